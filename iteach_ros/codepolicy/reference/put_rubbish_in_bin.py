# Reference program written by the iteach_ros developers, not LLM output.
# It is run by CodePolicyExecutor against the CodePolicy API (get_object, move_gripper, ...).
# ruff: noqa: F821
# Task "drop the rubbish into the bin": pick the rubbish, carry it above the bin, let go.
gripper = get_object('gripper')
rubbish = get_object('rubbish')
bin_ = get_object('bin')
if current_step == 1:
    set_gripper(True)
    goal = rubbish.position + np.array([0.0, 0.0, 0.08])
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01):
        increment_current_step()
elif current_step == 2:
    goal = rubbish.position - np.array([0.0, 0.0, 0.008])
    move_gripper(goal - gripper.position)
    if np.all(np.abs(goal - gripper.position) < 0.01) and rubbish.can_be_gripped:
        increment_current_step()
elif current_step == 3:
    set_gripper(False)
    if gripper.closed:
        increment_current_step()
elif current_step == 4:
    goal = rubbish.initial_position + np.array([0.0, 0.0, 0.16])  # lift above bin and tomatoes
    move_gripper(goal - rubbish.position)
    if np.all(np.abs(goal - rubbish.position) < 0.01):
        increment_current_step()
elif current_step == 5:
    goal = bin_.position  # the drop point above the opening
    move_gripper(goal - rubbish.position)
    if np.all(np.abs(goal - rubbish.position) < 0.01):
        increment_current_step()
elif current_step == 6:
    set_gripper(True)
    if not gripper.closed:
        increment_current_step()
else:
    set_done()
