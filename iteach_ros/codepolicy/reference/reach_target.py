# Reference program written by the iteach_ros developers, not LLM output.
# It is run by CodePolicyExecutor against the CodePolicy API (get_object, move_gripper, ...).
# ruff: noqa: F821
# Task "reach the target": move the gripper to the target.
gripper = get_object('gripper')
target = get_object('target')
if current_step == 1:
    move_gripper(target.position - gripper.position)
    if np.all(np.abs(target.position - gripper.position) < 0.01):
        increment_current_step()
else:
    set_done()
