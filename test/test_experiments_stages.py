"""The stage table locates where an episode stops: the reference teacher passes every stage of
put_rubbish_in_bin, an arm that only holds still passes none of the grasping ones."""

import numpy as np
import pytest

pytest.importorskip("mujoco", reason="mujoco missing: run scripts/setup.sh")

from iteach_ros.experiments.stages import (  # noqa: E402
    STAGES,
    _teacher_act_factory,
    format_table,
    stage_table,
)
from iteach_ros.sim.env import make_env  # noqa: E402


@pytest.fixture(scope="module")
def env():
    with make_env("put_rubbish_in_bin", render_wrist=False) as e:
        yield e


def test_the_reference_teacher_reaches_every_stage(env):
    table = stage_table("put_rubbish_in_bin", _teacher_act_factory("put_rubbish_in_bin"),
                        [900_000, 900_001], env)
    assert table["reached"] == [2] * len(STAGES["put_rubbish_in_bin"])
    assert table["success"] == 2 and table["failures"] == {}


def test_an_arm_holding_still_is_stopped_before_the_grasp():
    with make_env("put_rubbish_in_bin", render_wrist=False, max_steps=30) as env:
        table = stage_table("put_rubbish_in_bin",
                            lambda e: (lambda obs: np.array([0.0, 0.0, 0.0, 1.0])), [900_000],
                            env)
    assert table["reached"][1:] == [0, 0, 0] and table["success"] == 0
    assert sum(table["failures"].values()) == 1
    assert "| 0/1 | 0/1 | 0/1 |" in format_table("still", table)


def test_the_angle_profile_of_the_reference_program_against_itself_is_zero(env):
    from iteach_ros.experiments.stages import angle_profile

    profile = angle_profile("put_rubbish_in_bin", _teacher_act_factory("put_rubbish_in_bin"),
                            [900_000], env)
    assert [p[:2] for p in profile[:3]] == [(0, 10), (10, 20), (20, 40)]
    assert all(median == 0.0 for _, _, median, _ in profile)
    assert sum(n for *_, n in profile) > 50  # every step of the episode, in its range


def test_the_cli_renders_the_camera_a_checkpoint_was_trained_on(tmp_path, capsys):
    from iteach_ros.experiments.stages import main
    from iteach_ros.learning.buffer import ReplayBuffer
    from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
    from iteach_ros.learning.trainer import Trainer, TrainerConfig

    path = Trainer(CeilingPolicy(PolicyConfig(image_size=32)), ReplayBuffer(),
                   TrainerConfig()).save_checkpoint(tmp_path / "policy.pt")
    assert main(["--task", "push_button", "--policy", str(path), "--episodes", "1"]) == 0
    assert "| above button | success | failures |" in capsys.readouterr().out
