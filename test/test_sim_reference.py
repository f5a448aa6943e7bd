"""Reference programs solve every task; doing nothing never does."""

import numpy as np
import pytest

from iteach_ros.codepolicy.reference import available, load_reference, reference_executor
from iteach_ros.codepolicy.runtime import CodePolicyExecutor
from iteach_ros.sim import TASKS, make_env
from iteach_ros.sim.rollout import run_policy_episode

# Issues 3 and 12: at least 95 % of 50 seeded episodes, on seeds held out from development
# (the scenes and programs were tuned on seeds 0-49).
SEEDS = range(1000, 1050)


def test_every_task_has_a_labelled_reference_program():
    assert set(available()) == set(TASKS)
    for task in TASKS:
        source = load_reference(task)
        assert "not LLM output" in source.splitlines()[0]
    with pytest.raises(KeyError):
        load_reference("no_such_task")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_reference_program_success_rate(task):
    env = make_env(task, render_wrist=False)
    executor = reference_executor(task)
    results = [run_policy_episode(env, executor, seed=seed) for seed in SEEDS]
    successes = sum(r.success for r in results)
    failed = [(r.seed, r.failure_reason) for r in results if not r.success]
    assert successes >= 0.95 * len(SEEDS), f"{task}: {successes}/{len(SEEDS)}, failed {failed}"
    assert max(r.steps for r in results) <= TASKS[task].max_steps
    env.close()


@pytest.mark.parametrize("task", sorted(TASKS))
def test_doing_nothing_never_succeeds(task):
    env = make_env(task, render_wrist=False)
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        assert not info["success"]
        for _ in range(env.max_steps):
            obs, reward, terminated, truncated, info = env.step(np.zeros(4))
            assert not info["success"] and reward == 0.0
            if terminated or truncated:
                break
        assert truncated and info["failure_reason"] == "step_limit"
    env.close()


def test_papers_push_button_program_runs_unchanged():
    # The paper's generated PushButton policy (paraphrased): not written for this scene.
    source = """
if current_step == 1:
    button = get_object('button'); gripper = get_object('gripper')
    move_gripper(button.position - gripper.position)
    if np.linalg.norm(gripper.position - button.position) < 0.02: increment_current_step()
elif current_step == 2:
    set_gripper(False)
    if get_object('gripper').closed: increment_current_step()
elif current_step == 3:
    move_gripper(np.array([0, 0, -0.05]))
else:
    set_done()
"""
    env = make_env("push_button", render_wrist=False)
    executor = CodePolicyExecutor(source)
    results = [run_policy_episode(env, executor, seed=seed) for seed in range(5)]
    assert all(r.success for r in results), results


def test_rollout_keeps_actions_and_reports_steps():
    env = make_env("reach_target", render_wrist=False)
    result = run_policy_episode(env, reference_executor("reach_target"), seed=1,
                                keep_actions=True)
    assert result.success and result.steps == len(result.actions) > 0
    for a in result.actions:
        assert a.shape == (4,) and set(np.round(np.abs(a[:3]), 3)) <= {0.0, 0.9}


def test_reference_program_drives_the_7d_mode_too():
    env = make_env("pick_and_lift", render_wrist=False, action_mode="7d")
    result = run_policy_episode(env, reference_executor("pick_and_lift"), seed=4)
    assert result.success


def test_grasp_is_friction_only_the_cube_falls_when_released():
    env = make_env("pick_and_lift", render_wrist=False)
    result = run_policy_episode(env, reference_executor("pick_and_lift"), seed=0)
    assert result.success
    lifted = env.data.site("obj_cube").xpos[2]
    assert lifted > 0.1
    for _ in range(10):
        obs, _, _, _, info = env.step([0, 0, 0, 1.0])  # open: nothing holds the cube any more
    assert obs.objects["cube"].position[2] < 0.03 and not obs.objects["cube"].gripped
    assert not info["success"]
