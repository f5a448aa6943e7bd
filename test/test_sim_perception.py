"""Object states from the over-shoulder camera: the button is found within 2 cm, the door's
normal is a horizontal unit vector, a hidden object keeps its last estimate, and the reference
teacher presses the button from perceived states alone."""

import numpy as np
import pytest

pytest.importorskip("mujoco", reason="mujoco missing: run scripts/setup.sh")

from iteach_ros.core.perception import merge_perceived  # noqa: E402
from iteach_ros.sim import make_env  # noqa: E402
from iteach_ros.sim.perception import PerceivedStates, Perception  # noqa: E402


def test_the_button_is_found_near_its_true_position():
    with make_env("push_button", render_wrist=False) as env:
        perception = Perception(env)
        for seed in (900_000, 900_001, 900_002):
            obs, _ = env.reset(seed=seed)
            perception.reset()
            pos, _ = perception.estimate()["button"]
            assert np.linalg.norm(pos - obs.objects["button"].position) < 0.02
        perception.close()


def test_the_door_normal_is_a_horizontal_unit_vector():
    with make_env("close_microwave", render_wrist=False) as env:
        env.reset(seed=900_000)
        perception = Perception(env)
        _, normal = perception.estimate()["microwave door"]
        assert normal[2] == 0.0 and np.linalg.norm(normal) == pytest.approx(1.0)
        perception.close()


def test_a_hidden_object_keeps_its_last_estimate_and_one_never_seen_is_nan(monkeypatch):
    with make_env("push_button", render_wrist=False) as env:
        obs, _ = env.reset(seed=900_000)
        perception = Perception(env)
        seen, _ = perception.estimate()["button"]
        depth, labels = perception.rig.render()
        monkeypatch.setattr(perception.rig, "render", lambda: (depth, np.zeros_like(labels)))
        hidden, _ = perception.estimate()["button"]
        np.testing.assert_array_equal(hidden, seen)
        perception.reset()
        assert "button" not in perception.estimate()
        merged = merge_perceived(obs.objects, {}, ())
        assert np.all(np.isnan(merged["button"].position))
        perception.close()


def test_the_rig_labels_only_the_objects_bodies_and_its_pose_is_an_optical_frame():
    with make_env("close_microwave", render_wrist=False) as env:
        env.reset(seed=900_000)
        rig = Perception(env).rig
        depth, labels = rig.render()
        assert set(np.unique(labels)) <= {0, 1, 2} and (labels == 2).any()  # 2: the door
        rotation, translation = rig.pose()
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
        # the optical axis (z) looks down at the table from above it
        assert translation[2] > 0.5 and rotation[2, 2] < -0.3
        rig.close()


def test_the_reference_teacher_presses_the_button_from_perceived_states():
    from iteach_ros.experiments.perceived import run

    errors = []
    rows = run("push_button", [900_000], perceived=True, errors=errors)
    assert rows[0][1], rows
    assert errors and max(errors) < 0.05


def test_perceived_states_replace_positions_but_not_the_robots_own_state():
    with PerceivedStates(make_env("push_button", render_wrist=False)) as env:
        obs, _ = env.reset(seed=900_000)
        true = env.env.object_states()
        assert not np.array_equal(obs.objects["button"].position, true["button"].position)
        np.testing.assert_array_equal(obs.objects["gripper"].position, true["gripper"].position)


def test_the_runner_teaches_from_perceived_states_in_one_process():
    from iteach_ros.experiments.config import ProtocolConfig
    from iteach_ros.experiments.protocol import run_protocol

    result = run_protocol(ProtocolConfig(task="push_button", method="teacher", eval_episodes=1,
                                         perceived_states=True), progress=False)
    assert result.eval_success_rate == 1.0
