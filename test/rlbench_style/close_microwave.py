# RLBench-style CodePolicy for "close microwave 30cm", written for the iteach_ros tests (not LLM
# output), in the way a strong LLM writes programs for the paper's RLBench API.
# ruff: noqa: F821
gripper = get_object('gripper')
door = get_object('microwave door')
if current_step == 1:
    # move to the microwave door
    move_gripper(door.position - gripper.position)
    if np.linalg.norm(door.position - gripper.position) < 0.02:
        increment_current_step()
elif current_step == 2:
    # close the gripper
    set_gripper(False)
    if gripper.closed:
        increment_current_step()
elif current_step == 3:
    # push the door 30cm, against its normal
    goal = door.initial_position - 0.3 * door.normal
    move_gripper(goal - gripper.position)
    if np.linalg.norm(goal - gripper.position) < 0.02:
        increment_current_step()
else:
    set_done()
