# RLBench-style CodePolicy for "push button", written for the iteach_ros tests (not LLM output),
# in the way a strong LLM writes programs for the paper's RLBench API.
# ruff: noqa: F821
gripper = get_object('gripper')
button = get_object('button')
if current_step == 1:
    # move to the button
    move_gripper(button.position - gripper.position)
    if np.linalg.norm(button.position - gripper.position) < 0.02:
        increment_current_step()
elif current_step == 2:
    # close the gripper
    set_gripper(False)
    if gripper.gripped:
        increment_current_step()
elif current_step == 3:
    # press the button 3cm in, against its normal
    goal = button.initial_position - 0.03 * button.normal
    move_gripper(goal - gripper.position)
    if np.linalg.norm(goal - gripper.position) < 0.02:
        increment_current_step()
else:
    set_done()
