# Reference program written by the iteach_ros developers, not LLM output.
# It is run by CodePolicyExecutor against the CodePolicy API (get_object, move_gripper, ...).
# ruff: noqa: F821
# Task "close microwave": push the open door at its handle along its closing direction.
gripper = get_object('gripper')
door = get_object('microwave door')
microwave = get_object('microwave')
closing = door.normal  # horizontal, points where the door's outer face moves when closing
if current_step == 1:
    set_gripper(False)  # closed fingers make a compact pusher
    goal = door.position - 0.07 * closing + np.array([0.0, 0.0, 0.12])
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01):
        increment_current_step()
elif current_step == 2:
    goal = door.position - 0.07 * closing
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01):
        increment_current_step()
elif current_step == 3:
    # aim a little past the door's outer face: the door swings shut in front of the hand
    goal = door.position + 0.04 * closing
    move_gripper(goal - gripper.position)
    if np.dot(closing, -microwave.normal) > np.cos(np.radians(4)):
        increment_current_step()
else:
    set_done()
