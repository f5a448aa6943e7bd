"""The 7-D action mode (open question 1) in the runner: the teacher's 4-D actions gain a zero
rotation, the learner and the environment act in 7-D; the graph transport hands the mode to
every node (test_transport_equivalence runs it)."""

import numpy as np
import pytest

from iteach_ros.core.actions import in_action_space
from iteach_ros.experiments.config import ProtocolConfig
from iteach_ros.experiments.protocol import run_protocol
from iteach_ros.interaction.episode import EpisodeAssembler
from iteach_ros.interaction.lockstep import TeacherStream
from iteach_ros.interaction.loop import run_episode
from iteach_ros.sim import make_env
from iteach_ros.teacher.service import make_teacher


def test_a_4d_teacher_action_gains_a_zero_rotation_before_the_gripper():
    wide = in_action_space([0.1, -0.2, 0.3, -1.0], 7)
    np.testing.assert_array_equal(wide, [0.1, -0.2, 0.3, 0.0, 0.0, 0.0, -1.0])
    np.testing.assert_array_equal(in_action_space([0.1, 0, 0, 1.0], 4), [0.1, 0, 0, 1.0])
    assert in_action_space(np.zeros(5), 7).shape == (5,)  # left for check_action to refuse


def test_a_7d_demonstration_holds_the_orientation_and_succeeds():
    teacher = make_teacher("push_button", "reference", "in_process")
    with make_env("push_button", action_mode="7d", image_size=32) as env:
        assembler = EpisodeAssembler(task="push_button", seed=3, source="demo")
        out = run_episode(env, 3, teacher=TeacherStream(teacher), assembler=assembler)
    teacher.close()
    assert out.success, out.reason
    trajectory = assembler.build(success=True)
    actions = np.asarray(trajectory.actions)
    assert actions.shape[1] == 7
    assert np.all(actions[:, 3:6] == 0.0)  # the rotation the teacher holds
    assert np.any(actions[:, :3] != 0.0)


def test_the_runner_trains_and_evaluates_a_7d_learner(tmp_path):
    cfg = ProtocolConfig(task="push_button", method="llm_iteach", demos=1, episodes=1,
                         eval_episodes=1, warm_steps=2, image_size=32, progress_every=0,
                         sandbox="in_process", action_mode="7d")
    result = run_protocol(cfg, progress=False)
    assert result.trainer.policy.cfg.action_dim == 7
    assert {r.phase for r in result.records} >= {"demo", "interactive", "eval"}


def test_the_graph_transport_sets_every_nodes_action_mode_and_unknown_modes_are_refused(
        tmp_path):
    from iteach_ros.experiments.graph_transport import phase_processes

    cfg = ProtocolConfig(action_mode="7d", transport="graph")
    specs = phase_processes(cfg, tmp_path, seed=0, episodes=1, interactive=True)
    for node in ("sim_bridge", "teacher", "arbiter", "learner"):
        cmd = next(s.cmd for s in specs if s.node == node)
        assert "action_mode:=7d" in cmd, node
    with pytest.raises(ValueError, match="action_mode must be one of"):
        ProtocolConfig(action_mode="6d")


def test_a_learner_refuses_demonstrations_and_checkpoints_of_the_other_action_space(tmp_path):
    from types import SimpleNamespace

    pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
    from iteach_ros.learning.buffer import ReplayBuffer, Trajectory
    from iteach_ros.ros import learner_state as store

    t = 3
    demo = Trajectory(images=np.zeros((t, 16, 16, 3), np.uint8), proprio=np.zeros((t, 8), "f4"),
                      actions=np.zeros((t, 4), "f4"), kinds=np.zeros(t, np.uint8))
    demos = ReplayBuffer(sequence_length=4)
    demos.add(demo)
    path = demos.save(tmp_path / "demos.npz")
    buffer = ReplayBuffer(sequence_length=4)
    with pytest.raises(ValueError, match=r"\[4\]-D actions; .* 7-D"):
        store.add_demonstrations(str(path), buffer, None, action_dim=7)
    assert len(buffer) == 0  # nothing added
    assert store.add_demonstrations(str(path), buffer, None, action_dim=4) == 1

    params = SimpleNamespace(action_mode="4d", lr=1e-3, batch_size=1, seed=0, image_size=32,
                             warm_start_checkpoint="", precision="auto")
    trainer, _ = store.make_trainer(params, None, buffer, log=None)
    ckpt = tmp_path / "policy.pt"
    trainer.save_checkpoint(ckpt)
    params.action_mode, params.warm_start_checkpoint = "7d", str(ckpt)
    with pytest.raises(ValueError, match="4-D policy; action_mode 7d needs 7-D"):
        store.make_trainer(params, None, buffer, log=None)
