# RLBench-style CodePolicy for "lift the lid by 20cm", written for the iteach_ros tests (not LLM
# output), in the way a strong LLM writes programs for the paper's RLBench API.
# ruff: noqa: F821
gripper = get_object('gripper')
lid = get_object('lid')
if current_step == 1:
    # open the gripper and move to the lid
    set_gripper(True)
    move_gripper(lid.position - gripper.position)
    if np.linalg.norm(lid.position - gripper.position) < 0.02:
        increment_current_step()
elif current_step == 2:
    # close the gripper on the lid
    set_gripper(False)
    if lid.gripped:
        increment_current_step()
elif current_step == 3:
    # lift the lid 20cm along its normal
    goal = lid.initial_position + 0.2 * lid.normal
    move_gripper(goal - lid.position)
    if np.linalg.norm(goal - lid.position) < 0.02:
        increment_current_step()
else:
    set_done()
