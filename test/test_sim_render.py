"""Offscreen rendering (MUJOCO_GL=egl), the recorder and the RLBench guard."""

import importlib.util

import numpy as np
import pytest

from iteach_ros.codepolicy.reference import reference_executor
from iteach_ros.sim import make_env


def test_wrist_camera_image():
    env = make_env("put_rubbish_in_bin", seed=0)
    obs, _ = env.reset(seed=0)
    img = obs.wrist_rgb
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert img.std() > 5.0  # not a constant image
    obs2, *_ = env.step([1, 0, -1, 0])
    assert not np.array_equal(obs2.wrist_rgb, img)  # the camera moves with the hand
    front = env.render("front", 96)
    assert front.shape == (96, 96, 3) and front.std() > 5.0
    env.close()


def test_recorder_writes_a_gif(tmp_path):
    imageio = pytest.importorskip("imageio.v2")
    from iteach_ros.sim.record import record_episode

    env = make_env("reach_target", render_wrist=False)
    path = tmp_path / "reach.gif"
    result = record_episode(env, reference_executor("reach_target"), 0, path, size=64, every=3)
    assert result.success and path.stat().st_size > 1000
    frames = imageio.mimread(path)
    assert frames[0].shape[:2] == (64, 128)  # front | wrist
    env.close()


@pytest.mark.skipif(importlib.util.find_spec("rlbench") is not None,
                    reason="RLBench is installed here")
def test_rlbench_backend_names_what_to_install():
    from iteach_ros.sim.rlbench_backend import RLBenchUnavailableError

    with pytest.raises(RLBenchUnavailableError, match="CoppeliaSim.*PyRep.*RLBench"):
        make_env("push_button", backend="rlbench")
    with pytest.raises(ValueError, match="backend"):
        make_env("push_button", backend="gazebo")


def test_record_cli_takes_a_step_limit(tmp_path, capsys):
    pytest.importorskip("imageio.v2")
    from iteach_ros.sim.record import main

    assert main(["--task", "reach_target", "--out", str(tmp_path), "--size", "32",
                 "--every", "4", "--max-steps", "3"]) == 1  # cut before the target
    assert "FAILED in 3 steps" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--task", "reach_target", "--out", str(tmp_path), "--max-steps", "-1"])
