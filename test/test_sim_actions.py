"""Bad actions never blow the physics up: clear errors, clipping, infeasibility reports."""

import numpy as np
import pytest

from iteach_ros.sim import TASKS, make_env


@pytest.fixture
def env():
    e = make_env("pick_and_lift", render_wrist=False)
    e.reset(seed=0)
    yield e
    e.close()


@pytest.mark.parametrize("bad", [[np.nan, 0, 0, 0], [0, 0, np.inf, 1], [0, -np.inf, 0, 0]])
def test_non_finite_action_is_a_value_error(env, bad):
    with pytest.raises(ValueError, match="non-finite"):
        env.step(bad)
    assert np.all(np.isfinite(env.data.qpos))


@pytest.mark.parametrize("bad", [[0, 0, 0], [0, 0, 0, 0, 0], [], [[0, 0], [0, 0, 0]], "left"])
def test_wrong_length_or_type_is_a_value_error(env, bad):
    with pytest.raises(ValueError):
        env.step(bad)


def test_huge_actions_are_clipped(env):
    start = env.tcp_position()
    _, _, _, _, info = env.step([1e9, -1e9, 0.0, 1e9])
    assert info["action_clipped"]
    moved = env.tcp_position() - start
    assert np.all(np.abs(moved[:2]) < 0.012)  # at most 1 cm per axis and step
    assert np.all(np.isfinite(env.data.qpos))


@pytest.mark.parametrize("task", sorted(TASKS))
def test_random_extreme_actions_keep_the_state_finite(task):
    rng = np.random.default_rng(1)
    env = make_env(task, render_wrist=False, max_infeasible=10**6)
    env.reset(seed=2)
    for _ in range(120):
        a = rng.choice([-1e6, -1.0, 0.0, 1.0, 1e6], size=4)
        obs, _, terminated, truncated, info = env.step(a)
        assert np.all(np.isfinite(env.data.qpos)) and np.all(np.isfinite(env.data.qvel))
        assert np.all(np.abs(env.data.qvel) < 100.0)
        if terminated or truncated:
            env.reset(seed=3)
    env.close()


def test_workspace_limit_is_reported_and_ends_the_episode():
    env = make_env("reach_target", render_wrist=False)
    env.reset(seed=0)
    infeasible = []
    for _ in range(80):
        _, _, terminated, truncated, info = env.step([0, 0, -1.0, 0])  # into the table
        infeasible.append(info["infeasible"])
        if terminated:
            break
    assert any(infeasible)
    assert terminated and not info["success"]
    assert info["failure_reason"] == "infeasible_actions"
    assert env.tcp_position()[2] > 0.005  # the fingertips stopped above the table


def test_unreachable_target_is_clipped_not_crashed():
    env = make_env("reach_target", render_wrist=False, max_infeasible=10**6)
    env.reset(seed=0)
    flags = []
    for _ in range(100):  # far forward and up: beyond the arm's reach
        _, _, _, _, info = env.step([1.0, 0.0, 1.0, 0])
        flags.append(info["infeasible"])
    assert flags[-1] and not flags[0]
    tcp = env.tcp_position()
    assert np.linalg.norm(tcp - env.arm.target_pos) < 0.02  # target re-anchored at the reach
    assert np.all(np.isfinite(env.data.qpos))
