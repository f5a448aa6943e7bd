"""Programs written the way a strong LLM writes them for the paper's RLBench API (move to the
object's point, close, move along the normal, check by distance) run unchanged and solve every
task (issue 12). The programs are in ``test/rlbench_style/`` (this project's, not LLM output).
"""

from pathlib import Path

import numpy as np
import pytest

from iteach_ros.codepolicy.sandbox import SandboxedPolicy
from iteach_ros.sim import TASKS, make_env
from iteach_ros.sim.rollout import run_policy_episode

PROGRAMS = Path(__file__).parent / "rlbench_style"
# Held out: the scenes' points were placed while looking at seeds 0-49 only.
SEEDS = range(1000, 1050)


def test_one_program_per_task():
    assert {p.stem for p in PROGRAMS.glob("*.py")} == set(TASKS)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_rlbench_style_program_solves_the_task(task):
    source = (PROGRAMS / f"{task}.py").read_text(encoding="utf-8")
    policy = SandboxedPolicy(source, TASKS[task].object_names)  # as generated code runs
    env = make_env(task, render_wrist=False)
    results = [run_policy_episode(env, policy, seed=seed) for seed in SEEDS]
    env.close()
    successes = sum(r.success for r in results)
    failed = [(r.seed, r.failure_reason) for r in results if not r.success]
    assert successes >= 0.9 * len(SEEDS), f"{task}: {successes}/{len(SEEDS)}, failed {failed}"


def test_pushing_the_door_against_its_normal_closes_it():
    """The paper's convention: the door's normal points out of the microwave towards the door's
    waypoint, so pushing the door shut is a move along -normal from that waypoint."""
    env = make_env("close_microwave", render_wrist=False)
    obs, _ = env.reset(seed=3)
    door, mw = obs.objects["microwave door"], obs.objects["microwave"]
    np.testing.assert_allclose(door.normal, mw.normal)
    assert door.normal[2] == 0.0 and np.dot(door.position - mw.position, door.normal) > 0.2
    start = env.data.joint("door_hinge").qpos[0]
    for _ in range(env.max_steps):
        g = obs.objects["gripper"]
        obs, _, terminated, truncated, info = env.step(
            np.append(np.clip((door.position - g.position) * 100, -1, 1), 1.0))
        if np.linalg.norm(door.position - g.position) < 0.01:
            break
    while not (terminated or truncated):
        obs, _, terminated, truncated, info = env.step(np.append(-obs.objects[
            "microwave door"].normal, 1.0))
    assert info["success"] and start - env.data.joint("door_hinge").qpos[0] > np.deg2rad(40)
    env.close()


def test_the_bin_point_is_above_the_opening():
    env = make_env("put_rubbish_in_bin", render_wrist=False)
    obs, _ = env.reset(seed=0)
    rim = env.data.site("chk_bin_floor").xpos[2] + env.task.BIN_WALL_HEIGHT
    assert obs.objects["bin"].position[2] > rim + 0.05  # held rubbish clears the walls
    env.close()


def test_close_microwave_success_is_rlbenchs_40_degree_swing_or_the_strict_option():
    import dataclasses

    from iteach_ros.sim.env import MujocoTaskEnv

    task = TASKS["close_microwave"]
    strict = MujocoTaskEnv(dataclasses.replace(task, closed_rad=0.12), render_wrist=False)
    for env in (make_env("close_microwave", render_wrist=False), strict):
        env.reset(seed=1)
        hinge = env.data.joint("door_hinge")
        start = float(hinge.qpos[0])
        assert start - np.deg2rad(45) > 0.2  # a wide-open door: 45 deg leave it half open
        hinge.qpos[0] = start - np.deg2rad(35)
        assert not task.success(env.model, env.data, env)  # swung, but not 40 deg
        hinge.qpos[0] = start - np.deg2rad(45)
        assert env.task.success(env.model, env.data, env) == (env is not strict)
        hinge.qpos[0] = 0.05  # shut
        assert env.task.success(env.model, env.data, env)
        env.close()
