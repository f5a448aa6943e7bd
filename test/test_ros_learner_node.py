"""The learner node in this process over real DDS: an episode's end event that overtakes the
last feedback records (they come from different processes) loses no label; malformed data is
refused at the door; a restarted simulator is a new run."""

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
from builtin_interfaces.msg import Time  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.node import Node  # noqa: E402

from iteach_ros.msg import EpisodeEvent, Feedback  # noqa: E402
from iteach_ros.ros import interfaces as topics  # noqa: E402
from iteach_ros.ros.conversions import observation_to_msg  # noqa: E402
from iteach_ros.ros.learner_node import LABEL_WAIT_S, LearnerNode  # noqa: E402
from iteach_ros.sim import make_env  # noqa: E402
from ros_monitor import nodes_in_this_process  # noqa: E402

pytestmark = pytest.mark.ros
SIZE = 32


class Peer(Node):
    """Plays sim_bridge and arbiter towards the learner."""

    def __init__(self):
        super().__init__("learner_peer")
        self.observations = topics.OBSERVATION.publisher(self)
        self.feedback = topics.FEEDBACK.publisher(self)
        self.events = topics.EPISODE_EVENT.publisher(self)
        self.answers = []
        topics.AGENT_ACTION.subscription(self, lambda m: self.answers.append((m.episode, m.step)))

    def label(self, step: int, executed=(0.9, 0.0, 0.0, 0.9), kind=Feedback.KIND_EVALUATIVE,
              run: int = 0, episode: int = 1):
        action = [0.9, 0.0, 0.0, 0.9]
        self.feedback.publish(Feedback(run_id=run, episode=episode, step=step,
                                       agent_action=action, teacher_action=action,
                                       executed_action=list(executed), angle_deg=0.0,
                                       beta_deg=20.0, kind=kind, train=True))


@pytest.fixture
def graph():
    params = ["--ros-args", "-p", f"image_size:={SIZE}", "-p", "sequence_length:=8"]
    with nodes_in_this_process(lambda: (LearnerNode(), Peer()), params) as ((learner, peer),
                                                                            spin_until):
        assert spin_until(lambda: peer.observations.get_subscription_count() == 1
                          and peer.feedback.get_subscription_count() == 1)
        yield learner, peer, spin_until
        learner.trainer.stop()


def _tiny_trajectory():
    from iteach_ros.learning.buffer import Trajectory

    return Trajectory(np.zeros((2, SIZE, SIZE, 3), np.uint8), np.zeros((2, 8), np.float32),
                      np.zeros((2, 4), np.float32), np.ones(2, np.uint8), {})


def act_on_steps(peer: Peer, spin_until, steps: int, run: int = 0, episode: int = 1,
                 size: int = SIZE, answered: bool = True) -> None:
    """An episode's first observations, each answered by the learner before the next."""
    env = make_env("reach_target", image_size=size)
    obs, _ = env.reset(seed=0)
    for step in range(steps):
        stamp = Time(sec=1000 * run + step)  # a later run is newer
        peer.observations.publish(observation_to_msg(obs, stamp=stamp, episode=episode,
                                                     task="reach_target", seed=0, run_id=run))
        got = spin_until(lambda s=step: (episode, s) in peer.answers,
                         timeout=10.0 if answered else 0.5)
        assert got == answered
        obs, *_ = env.step(np.array([0.9, 0.0, 0.0, 0.9]))
    env.close()


def test_end_event_before_the_last_feedback_loses_no_label(graph):
    learner, peer, spin_until = graph
    act_on_steps(peer, spin_until, 3)
    peer.label(0)
    peer.label(1)
    assert spin_until(lambda: len(learner.pipelines[0].collector.open[(0, 1)].labels) == 2)
    peer.events.publish(EpisodeEvent(episode=1, task="reach_target", seed=0,
                                     event=EpisodeEvent.SUCCEEDED, steps=3))
    spin_until(lambda: False, timeout=0.3)
    assert len(learner.buffer) == 0  # step 2 still awaits its label
    peer.label(2)  # the arbiter's last record arrives after the end event
    assert spin_until(lambda: len(learner.buffer) == 1)
    assert len(learner.buffer.trajectories[0]) == 3


def test_a_label_that_never_comes_does_not_hold_the_episode_forever(graph):
    learner, peer, spin_until = graph
    act_on_steps(peer, spin_until, 2)
    peer.label(0)
    peer.events.publish(EpisodeEvent(episode=1, task="reach_target", seed=0,
                                     event=EpisodeEvent.FAILED, reason="test", steps=2))
    assert spin_until(lambda: len(learner.buffer) == 1, timeout=LABEL_WAIT_S + 3.0)
    assert len(learner.buffer.trajectories[0]) == 1  # stored with the labelled step only


@pytest.mark.parametrize("executed, kind", [
    ([0.9, 0.0, 0.0, 0.9, 0.0], Feedback.KIND_CORRECTIVE),  # 5 values
    ([0.1] * 100, Feedback.KIND_CORRECTIVE),  # 100 values
    ([9e29, 0.0, 0.0, 0.9], Feedback.KIND_EVALUATIVE),  # out of range
    ([0.9, 0.0, 0.0, 0.9], 7),  # no such kind
])
def test_malformed_feedback_is_refused_and_training_goes_on(graph, executed, kind):
    learner, peer, spin_until = graph
    act_on_steps(peer, spin_until, 2)
    peer.label(0, executed=executed, kind=kind)  # refused: the step stays unlabelled
    peer.label(1)
    peer.events.publish(EpisodeEvent(episode=1, task="reach_target", seed=0,
                                     event=EpisodeEvent.FAILED, reason="test", steps=2))
    assert spin_until(lambda: len(learner.buffer) == 1, timeout=LABEL_WAIT_S + 3.0)
    traj = learner.buffer.trajectories[0]
    assert len(traj) == 1 and np.abs(traj.actions).max() <= 1.0  # only the valid label
    assert learner.trainer.failure is None


def test_an_image_of_another_size_is_refused_not_a_crash(graph):
    learner, peer, spin_until = graph
    act_on_steps(peer, spin_until, 1, size=SIZE // 2, answered=False)
    act_on_steps(peer, spin_until, 1, episode=2)  # the learner is still there
    assert learner.pipelines[0].collector.open[(0, 2)].observations


def test_a_restarted_simulator_is_a_new_run_and_the_old_episode_is_kept(graph):
    learner, peer, spin_until = graph
    act_on_steps(peer, spin_until, 2, run=5)
    peer.label(0, run=5)
    peer.label(1, run=5)
    assert spin_until(lambda: len(learner.pipelines[0].collector.open[(5, 1)].labels) == 2)
    # the simulator died mid-episode; its successor counts from episode 1 again
    act_on_steps(peer, spin_until, 1, run=6)
    assert spin_until(lambda: len(learner.buffer) == 1)
    old = learner.buffer.trajectories[0]
    assert (old.meta["run_id"], old.meta["episode"], len(old)) == (5, 1, 2)
    assert old.meta["reason"] == "interrupted"
    assert (6, 1) in learner.pipelines[0].collector.open  # the new episode 1, apart
    peer.label(0, run=5, episode=2)  # the old run's straggler: refused
    spin_until(lambda: False, timeout=0.3)
    assert (5, 2) not in learner.pipelines[0].collector.open


def test_a_restarted_learner_keeps_following_its_run_despite_older_kept_history(tmp_path):
    """The journal remembers how recent its episode's run is: a message of an earlier run that
    another node still keeps (the arbiter's feedback history) reaches the restarted learner
    first, and must not cut the episode in progress short (found by the soak test)."""
    from iteach_ros.learning.journal import EpisodeJournal

    journal = EpisodeJournal(tmp_path / "journal" / "root.bin", (SIZE, SIZE, 3))
    for step in range(2):
        journal.log_observation((5, 1), step, np.zeros((SIZE, SIZE, 3), np.uint8), np.zeros(8),
                                stamp_ns=(5000 + step) * 10**9)
        journal.log_feedback((5, 1), step, [0.9, 0, 0, 0.9], Feedback.KIND_EVALUATIVE, True,
                             stamp_ns=(5000 + step) * 10**9)
    journal.close()
    params = ["--ros-args", "-p", f"image_size:={SIZE}", "-p", "sequence_length:=8",
              "-p", f"checkpoint_dir:={tmp_path}"]
    with nodes_in_this_process(lambda: (LearnerNode(), Peer()), params) as ((learner, peer),
                                                                            spin_until):
        assert spin_until(lambda: peer.feedback.get_subscription_count() == 1)
        peer.label(0, run=2, episode=9)  # stamped long before run 5's episode
        spin_until(lambda: False, timeout=0.3)
        env = make_env("reach_target", image_size=SIZE)
        env.reset(seed=0)
        for _ in range(3):
            obs, *_ = env.step(np.array([0.9, 0.0, 0.0, 0.9]))
        env.close()
        stamped = Time(sec=5002)
        msg = observation_to_msg(obs, stamp=stamped, episode=1, task="reach_target", seed=0,
                                 run_id=5)
        msg.step = 2  # the step after the journalled ones
        peer.observations.publish(msg)
        assert spin_until(lambda: (1, 2) in peer.answers)
        feedback = Feedback(run_id=5, episode=1, step=2, agent_action=[0.9, 0, 0, 0.9],
                            teacher_action=[0.9, 0, 0, 0.9], executed_action=[0.9, 0, 0, 0.9],
                            kind=Feedback.KIND_EVALUATIVE, train=True, beta_deg=20.0)
        feedback.header.stamp = stamped
        peer.feedback.publish(feedback)
        end = EpisodeEvent(run_id=5, episode=1, task="reach_target", seed=0,
                           event=EpisodeEvent.SUCCEEDED, steps=3)
        end.header.stamp = stamped
        peer.events.publish(end)
        assert spin_until(lambda: len(learner.buffer) == 1)
        traj = learner.buffer.trajectories[0]
        assert (traj.meta["run_id"], traj.meta["episode"], len(traj)) == (5, 1, 3)
        assert traj.meta["reason"] == "success" and traj.meta["success"]
        learner.trainer.stop()


def test_unreadable_files_in_the_learner_folder_are_moved_aside_not_fatal(tmp_path):
    from iteach_ros.learning.buffer import Trajectory, save_trajectory

    tdir = tmp_path / "trajectories"
    good = Trajectory(np.zeros((2, SIZE, SIZE, 3), np.uint8), np.zeros((2, 8), np.float32),
                      np.zeros((2, 4), np.float32), np.ones(2, np.uint8),
                      {"pipeline": "", "run_id": 3, "episode": 1, "source": "interactive"})
    save_trajectory(good, tdir / "root_0000000000000003_000001.npz")
    (tdir / "root_0000000000000003_000002.npz").write_bytes(b"PK\x03\x04 torn by a crash")
    (tmp_path / "journal").mkdir()
    (tmp_path / "journal" / "root.bin").write_bytes(b"\x01" + bytes(40))  # an older format
    params = ["--ros-args", "-p", f"image_size:={SIZE}", "-p", f"checkpoint_dir:={tmp_path}"]
    with nodes_in_this_process(lambda: (LearnerNode(),), params) as ((learner,), _):
        assert len(learner.buffer) == 1 and learner.interactive_episodes == 1
        assert learner.pipelines[0].finished == {3: 1}
        learner.trainer.stop()
    moved = sorted(p.name for p in tmp_path.rglob("unreadable/*"))
    assert moved == ["root.bin", "root_0000000000000003_000002.npz"]


def test_a_dead_training_thread_is_reported_at_once(graph):
    learner, peer, spin_until = graph
    reports = []
    peer.create_subscription(DiagnosticArray, "/diagnostics",
                             lambda m: reports.extend(s for s in m.status
                                                      if s.name == "iteach_ros/learner"), 10)

    def broken_step():
        raise RuntimeError("CUDA ran off with the weights")

    learner.trainer.stop()
    learner.trainer.train_step = broken_step
    learner.buffer.add(_tiny_trajectory())
    learner.trainer.start()
    assert spin_until(lambda: any(r.level == r.ERROR and "training failed" in r.message
                                  for r in reports), timeout=5.0)
    assert learner.training_failure_reported
    with pytest.raises(RuntimeError, match="background training failed"):
        learner.trainer.stop()
