# RLBench-style CodePolicy for "unplug charger by 20cm", written for the iteach_ros tests (not
# LLM output), in the way a strong LLM writes programs for the paper's RLBench API.
# ruff: noqa: F821
gripper = get_object('gripper')
charger = get_object('charger')
if current_step == 1:
    # open the gripper and move to the charger
    set_gripper(True)
    move_gripper(charger.position - gripper.position)
    if np.linalg.norm(charger.position - gripper.position) < 0.02:
        increment_current_step()
elif current_step == 2:
    # grip the charger
    set_gripper(False)
    if gripper.gripped:
        increment_current_step()
elif current_step == 3:
    # pull the charger 20cm out along its normal
    goal = charger.initial_position + 0.2 * charger.normal
    move_gripper(goal - gripper.position)
    if np.linalg.norm(goal - gripper.position) < 0.02:
        increment_current_step()
else:
    set_done()
