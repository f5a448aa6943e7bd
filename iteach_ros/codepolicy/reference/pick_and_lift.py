# Reference program written by the iteach_ros developers, not LLM output.
# It is run by CodePolicyExecutor against the CodePolicy API (get_object, move_gripper, ...).
# ruff: noqa: F821
# Task "pick up the cube and lift it to the target area".
gripper = get_object('gripper')
cube = get_object('cube')
area = get_object('target area')
if current_step == 1:
    set_gripper(True)
    goal = cube.position + np.array([0.0, 0.0, 0.08])
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01):
        increment_current_step()
elif current_step == 2:
    goal = cube.position - np.array([0.0, 0.0, 0.008])
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01) and cube.can_be_gripped:
        increment_current_step()
elif current_step == 3:
    set_gripper(False)
    if gripper.closed:
        increment_current_step()
elif current_step == 4:
    goal = cube.initial_position + np.array([0.0, 0.0, 0.1])  # lift clear of the table
    move_gripper(goal - cube.position)
    if np.all(np.abs(goal - cube.position) < 0.01):
        increment_current_step()
elif current_step == 5:
    move_gripper(area.position - cube.position)
    if np.all(np.abs(area.position - cube.position) < 0.01):
        increment_current_step()
else:
    set_done()
