# RLBench-style CodePolicy for "pick up the blue block and lift it up to the target", written
# for the iteach_ros tests (not LLM output), in the way a strong LLM writes programs for the
# paper's RLBench API.
# ruff: noqa: F821
gripper = get_object('gripper')
cube = get_object('cube')
target = get_object('target area')
if current_step == 1:
    # open the gripper and move to the cube
    set_gripper(True)
    move_gripper(cube.position - gripper.position)
    if np.linalg.norm(cube.position - gripper.position) < 0.02:
        increment_current_step()
elif current_step == 2:
    # close the gripper
    set_gripper(False)
    if gripper.closed:
        increment_current_step()
elif current_step == 3:
    # lift the cube 10cm along its normal
    goal = cube.initial_position + 0.1 * cube.normal
    move_gripper(goal - gripper.position)
    if np.linalg.norm(goal - gripper.position) < 0.02:
        increment_current_step()
elif current_step == 4:
    # move the cube to the target area
    move_gripper(target.position - cube.position)
    if np.linalg.norm(target.position - cube.position) < 0.02:
        increment_current_step()
else:
    set_done()
