# RLBench-style CodePolicy for "reach the red target", written for the iteach_ros tests (not LLM
# output), in the way a strong LLM writes programs for the paper's RLBench API.
# ruff: noqa: F821
gripper = get_object('gripper')
target = get_object('target')
if current_step == 1:
    # move to the target
    move_gripper(target.position - gripper.position)
    if np.linalg.norm(target.position - gripper.position) < 0.02:
        increment_current_step()
else:
    set_done()
