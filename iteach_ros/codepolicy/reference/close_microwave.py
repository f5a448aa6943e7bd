# Reference program written by the iteach_ros developers, not LLM output.
# It is run by CodePolicyExecutor against the CodePolicy API (get_object, move_gripper, ...).
# ruff: noqa: F821
# Task "close microwave": close the fingers, go to the door's waypoint and push towards the
# microwave (against the door's normal); the door swings shut in front of the hand.
gripper = get_object('gripper')
door = get_object('microwave door')
if current_step == 1:
    set_gripper(False)  # closed fingers make a compact pusher
    move_gripper(door.position - gripper.position)
    if np.all(np.abs(door.position - gripper.position) < 0.01) and gripper.closed:
        increment_current_step()
elif current_step == 2:
    goal = door.initial_position - 0.3 * door.normal
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01):
        increment_current_step()
else:
    set_done()
