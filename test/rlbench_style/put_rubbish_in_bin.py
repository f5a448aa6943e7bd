# RLBench-style CodePolicy for "drop the rubbish into the bin", written for the iteach_ros tests
# (not LLM output), in the way a strong LLM writes programs for the paper's RLBench API.
# ruff: noqa: F821
gripper = get_object('gripper')
rubbish = get_object('rubbish')
bin = get_object('bin')
if current_step == 1:
    # open the gripper and move 10cm above the rubbish
    set_gripper(True)
    goal = rubbish.position + 0.1 * rubbish.normal
    move_gripper(goal - gripper.position)
    if np.linalg.norm(goal - gripper.position) < 0.02:
        increment_current_step()
elif current_step == 2:
    # move to the rubbish
    move_gripper(rubbish.position - gripper.position)
    if np.linalg.norm(rubbish.position - gripper.position) < 0.02:
        increment_current_step()
elif current_step == 3:
    # grasp the rubbish
    set_gripper(False)
    if rubbish.gripped:
        increment_current_step()
elif current_step == 4:
    # lift the rubbish 15cm
    goal = rubbish.initial_position + np.array([0, 0, 0.15])
    move_gripper(goal - gripper.position)
    if np.linalg.norm(goal - gripper.position) < 0.02:
        increment_current_step()
elif current_step == 5:
    # move 10cm above the bin
    goal = bin.position + np.array([0, 0, 0.1])
    move_gripper(goal - gripper.position)
    if np.linalg.norm(goal - gripper.position) < 0.02:
        increment_current_step()
elif current_step == 6:
    # open the gripper to drop the rubbish
    set_gripper(True)
    if not gripper.closed:
        increment_current_step()
else:
    set_done()
