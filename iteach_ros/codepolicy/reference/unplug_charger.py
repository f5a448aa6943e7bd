# Reference program written by the iteach_ros developers, not LLM output.
# It is run by CodePolicyExecutor against the CodePolicy API (get_object, move_gripper, ...).
# ruff: noqa: F821
# Task "unplug charger by 20cm": grasp the charger and pull it 20 cm along the outlet normal.
gripper = get_object('gripper')
charger = get_object('charger')
if current_step == 1:
    set_gripper(True)
    goal = charger.position + np.array([0.0, 0.0, 0.08])
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01):
        increment_current_step()
elif current_step == 2:
    goal = charger.position - np.array([0.0, 0.0, 0.008])
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01) and charger.can_be_gripped:
        increment_current_step()
elif current_step == 3:
    set_gripper(False)
    if gripper.closed:
        increment_current_step()
elif current_step == 4:
    goal = charger.initial_position + 0.2 * charger.normal
    move_gripper(goal - charger.position)
    if np.all(np.abs(goal - charger.position) < 0.01):
        increment_current_step()
else:
    set_done()
