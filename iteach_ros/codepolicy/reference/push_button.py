# Reference program written by the iteach_ros developers, not LLM output.
# It is run by CodePolicyExecutor against the CodePolicy API (get_object, move_gripper, ...).
# ruff: noqa: F821
# Task "push button": close the fingers into a pusher, go above the button, press it.
gripper = get_object('gripper')
button = get_object('button')
if current_step == 1:
    set_gripper(False)
    goal = button.position + 0.06 * button.normal
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01) and gripper.closed:
        increment_current_step()
elif current_step == 2:
    # press along the face normal until the cap has gone 12 mm down
    move_gripper(-0.03 * button.normal)
    if np.dot(button.initial_position - button.position, button.normal) > 0.012:
        increment_current_step()
else:
    set_done()
