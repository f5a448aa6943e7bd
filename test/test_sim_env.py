"""MuJoCo task environments: registry, observations, determinism, control accuracy."""

import subprocess
import sys

import numpy as np
import pytest

from iteach_ros.core.state import ObjectState
from iteach_ros.sim import CONTROL_HZ, TASKS, Observation, make_env

# The paper's object names (docs/paper.md) for every task.
PAPER_OBJECTS = {
    "push_button": ("button",),
    "close_microwave": ("microwave", "microwave door"),
    "take_lid_off_saucepan": ("lid",),
    "unplug_charger": ("charger", "wall outlet"),
    "put_rubbish_in_bin": ("rubbish", "bin", "tomato1", "tomato2"),
    "reach_target": ("target",),
    "pick_and_lift": ("cube", "target area"),
}
PAPER_DESCRIPTIONS = {
    "push_button": "push button",
    "close_microwave": "close microwave 30cm",
    "take_lid_off_saucepan": "lift the lid by 20cm",
    "unplug_charger": "unplug charger by 20cm",
    "put_rubbish_in_bin": "drop the rubbish into the bin",
}


def test_registry_has_the_papers_tasks_and_objects():
    assert set(TASKS) == set(PAPER_OBJECTS)
    for name, objects in PAPER_OBJECTS.items():
        assert TASKS[name].object_names == objects
        assert TASKS[name].max_steps == 300  # CEILing's RLBench episodes: 15 s at 20 Hz
    for name, text in PAPER_DESCRIPTIONS.items():
        assert TASKS[name].description == text


def _z_axis(q):
    """z axis of the frame with quaternion [x, y, z, w]."""
    x, y, z, w = q
    return np.array([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)])


def test_unknown_task_and_mode_are_clear_errors():
    with pytest.raises(KeyError, match="unknown task"):
        make_env("stack_blocks_forever")
    with pytest.raises(ValueError, match="action_mode"):
        make_env("reach_target", action_mode="6d")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_reset_observation(task):
    env = make_env(task, seed=0, render_wrist=False)
    obs, info = env.reset(seed=3)
    assert isinstance(obs, Observation)
    assert obs.wrist_rgb is None
    assert obs.proprio.shape == (8,) and obs.proprio.dtype == np.float32
    assert obs.proprio[7] == pytest.approx(0.08, abs=2e-3)  # gripper starts open
    assert set(obs.objects) == {"gripper", *TASKS[task].object_names}
    for state in obs.objects.values():
        assert isinstance(state, ObjectState)
        assert state.position.shape == (3,) and np.all(np.isfinite(state.position))
        assert np.linalg.norm(state.normal) == pytest.approx(1.0)
        assert state.quaternion.shape == (4,)
        assert np.linalg.norm(state.quaternion) == pytest.approx(1.0)
        assert (state.joint_positions is None) == (state.name != "gripper")
    gripper = obs.objects["gripper"]
    assert not gripper.closed and not gripper.gripped
    np.testing.assert_allclose(gripper.position, obs.ee_position)
    np.testing.assert_allclose(gripper.joint_positions, obs.proprio[:7], atol=1e-6)
    # pointing down, like RLBench's start pose: the normal (fingertips to wrist) is up
    assert gripper.normal[2] > 0.99
    np.testing.assert_allclose(_z_axis(gripper.quaternion), -gripper.normal, atol=1e-9)
    assert info["success"] is False and info["step"] == 0
    assert env.task_name == task and env.control_hz == CONTROL_HZ == 20
    assert env.description == TASKS[task].description
    env.close()


@pytest.mark.parametrize("task", sorted(TASKS))
def test_same_seed_same_episode(task):
    rng = np.random.default_rng(7)
    actions = rng.uniform(-1, 1, size=(15, 4))
    runs = []
    for _ in range(2):
        env = make_env(task, render_wrist=False)
        obs, _ = env.reset(seed=11)
        states = [env.state_vector()]
        for a in actions:
            env.step(a)
            states.append(env.state_vector())
        runs.append(np.array(states))
        env.close()
    np.testing.assert_array_equal(runs[0], runs[1])
    env = make_env(task, render_wrist=False)
    env.reset(seed=12)
    first_other = {k: v.position for k, v in env.reset(seed=12)[0].objects.items()}
    first_same = {k: v.position for k, v in env.reset(seed=11)[0].objects.items()}
    assert any(not np.allclose(first_other[k], first_same[k])
               for k in TASKS[task].object_names), "different seeds should move the objects"


def test_constructor_seed_makes_reset_without_seed_reproducible():
    a = make_env("pick_and_lift", seed=5, render_wrist=False)
    b = make_env("pick_and_lift", seed=5, render_wrist=False)
    for _ in range(3):
        pa = a.reset()[0].objects["cube"].position
        pb = b.reset()[0].objects["cube"].position
        np.testing.assert_array_equal(pa, pb)


def test_one_centimetre_per_step_in_the_world_frame():
    env = make_env("reach_target", render_wrist=False)
    obs, _ = env.reset(seed=0)
    start = obs.ee_position.copy()
    for _ in range(10):
        obs, *_ = env.step([1.0, -0.5, -1.0, 0.0])
    np.testing.assert_allclose(obs.ee_position - start, [0.1, -0.05, -0.1], atol=3e-3)
    for _ in range(3):
        obs, *_ = env.step([0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(obs.ee_position - start, [0.1, -0.05, -0.1], atol=1.5e-3)


def test_gripper_closes_and_reports_closed():
    env = make_env("reach_target", render_wrist=False)
    obs, _ = env.reset(seed=0)
    for _ in range(8):
        obs, *_ = env.step([0, 0, 0, -1.0])
    assert obs.objects["gripper"].closed and obs.proprio[7] < 0.005
    assert obs.objects["gripper"].gripped  # RLBench programs read 'gripped' as closed
    for _ in range(8):  # 0 keeps the gripper as it is
        obs, *_ = env.step([0, 0, 0, 0.0])
    assert obs.objects["gripper"].closed
    for _ in range(8):
        obs, *_ = env.step([0, 0, 0, 1.0])
    assert not obs.objects["gripper"].closed and obs.proprio[7] > 0.075


def test_7d_mode_rotates_the_hand():
    env = make_env("reach_target", render_wrist=False, action_mode="7d")
    obs, _ = env.reset(seed=0)
    for _ in range(10):
        obs, *_ = env.step([0, 0, 0, 0, 0, 1.0, 0])  # yaw
    normal = obs.objects["gripper"].normal
    assert normal[2] > 0.99  # yaw keeps the hand pointing down
    q7_before = 0.785
    assert abs(obs.proprio[6] - q7_before) > 0.3  # ... by turning the wrist
    for _ in range(6):
        obs, _, _, _, info = env.step([0, 0, 0, 1.0, 0, 0, 0])  # roll tilts it
    assert obs.objects["gripper"].normal[2] < 0.97
    with pytest.raises(ValueError, match="7 entries"):
        env.step([0, 0, 0, 0])


def test_sim_core_imports_without_ros():
    code = ("import sys; import iteach_ros.sim, iteach_ros.sim.rollout, "
            "iteach_ros.sim.record, iteach_ros.sim.rlbench_backend; "
            "assert 'rclpy' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def test_rendering_does_not_change_the_physics():
    actions = np.random.default_rng(0).uniform(-1, 1, size=(10, 4))
    states = []
    for render in (True, False):
        env = make_env("take_lid_off_saucepan", render_wrist=render)
        env.reset(seed=1)
        for a in actions:
            env.step(a)
        states.append(env.state_vector())
        env.close()
    np.testing.assert_array_equal(states[0], states[1])


@pytest.mark.parametrize("task", ["pick_and_lift", "close_microwave"])
def test_servos_track_without_saturating(task):
    from iteach_ros.codepolicy.reference import reference_executor
    from iteach_ros.sim.rollout import run_policy_episode

    env = make_env(task, render_wrist=False)
    saturated, lag = [], []

    def record(e, obs):
        limit = e.model.actuator_forcerange[e.arm.act, 1]
        saturated.append(np.any(np.abs(e.data.actuator_force[e.arm.act]) >= limit - 1e-6))
        lag.append(np.linalg.norm(e.arm.target_pos - obs.ee_position))

    for seed in range(3):
        assert run_policy_episode(env, reference_executor(task), seed, record=record).success
    assert np.mean(saturated) < 0.05
    assert np.median(lag) < 0.003


def test_the_charger_does_not_slide_into_the_wall():
    """The plug's slide stops hard at the socket: pressed into the wall with 50 N it stays
    within 2 mm of its plugged-in position (MuJoCo's default soft limit let it sink 12 mm)."""
    import mujoco

    env = make_env("unplug_charger", render_wrist=False)
    env.reset(seed=0)
    m, d = env.model, env.data
    body = m.body("charger").id
    pull_out = d.xmat[body].reshape(3, 3) @ np.array([-1.0, 0.0, 0.0])  # the joint's axis
    for _ in range(500):
        d.xfrc_applied[body, :3] = -50.0 * pull_out
        mujoco.mj_step(m, d)
    assert d.joint("charger_slide").qpos[0] > -0.002
