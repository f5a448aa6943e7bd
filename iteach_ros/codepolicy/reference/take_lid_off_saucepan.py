# Reference program written by the iteach_ros developers, not LLM output.
# It is run by CodePolicyExecutor against the CodePolicy API (get_object, move_gripper, ...).
# ruff: noqa: F821
# Task "lift the lid by 20cm": grasp the lid's knob and lift it 20 cm.
gripper = get_object('gripper')
lid = get_object('lid')
if current_step == 1:
    set_gripper(True)
    goal = lid.position + np.array([0.0, 0.0, 0.08])
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01):
        increment_current_step()
elif current_step == 2:
    goal = lid.position - np.array([0.0, 0.0, 0.008])
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01) and lid.can_be_gripped:
        increment_current_step()
elif current_step == 3:
    set_gripper(False)
    if gripper.closed:
        increment_current_step()
elif current_step == 4:
    goal = lid.initial_position + np.array([0.0, 0.0, 0.2])
    move_gripper(goal - lid.position)
    if np.all(np.abs(goal - lid.position) < 0.01):
        increment_current_step()
else:
    set_done()
