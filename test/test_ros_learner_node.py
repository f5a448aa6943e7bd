"""The learner node in this process over real DDS: an episode's end event that overtakes the
last feedback records (they come from different processes) loses no label."""

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.node import Node  # noqa: E402

from iteach_ros.msg import EpisodeEvent, Feedback  # noqa: E402
from iteach_ros.ros import interfaces as io  # noqa: E402
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
        self.observations = self.create_publisher(io.OBSERVATION.type, io.OBSERVATION.name,
                                                  io.OBSERVATION.qos)
        self.feedback = self.create_publisher(io.FEEDBACK.type, io.FEEDBACK.name, io.FEEDBACK.qos)
        self.events = self.create_publisher(io.EPISODE_EVENT.type, io.EPISODE_EVENT.name,
                                            io.EPISODE_EVENT.qos)
        self.answers = []
        self.create_subscription(io.AGENT_ACTION.type, io.AGENT_ACTION.name,
                                 lambda m: self.answers.append((m.episode, m.step)),
                                 io.AGENT_ACTION.qos)

    def label(self, step: int):
        action = [0.9, 0.0, 0.0, 0.9]
        self.feedback.publish(Feedback(episode=1, step=step, agent_action=action,
                                       teacher_action=action, executed_action=action,
                                       angle_deg=0.0, beta_deg=20.0,
                                       kind=Feedback.KIND_EVALUATIVE))


@pytest.fixture
def graph():
    params = ["--ros-args", "-p", f"image_size:={SIZE}", "-p", "sequence_length:=8"]
    with nodes_in_this_process(lambda: (LearnerNode(), Peer()), params) as ((learner, peer),
                                                                            spin_until):
        assert spin_until(lambda: peer.observations.get_subscription_count() == 1
                          and peer.feedback.get_subscription_count() == 1)
        yield learner, peer, spin_until
        learner.trainer.stop()


def act_on_steps(peer: Peer, spin_until, steps: int) -> None:
    """Episode 1's first observations, each answered by the learner before the next."""
    env = make_env("reach_target", image_size=SIZE)
    obs, _ = env.reset(seed=0)
    for step in range(steps):
        peer.observations.publish(observation_to_msg(obs, stamp=Time(sec=step), episode=1,
                                                     task="reach_target", seed=0))
        assert spin_until(lambda s=step: (1, s) in peer.answers)
        obs, *_ = env.step(np.array([0.9, 0.0, 0.0, 0.9]))
    env.close()


def test_end_event_before_the_last_feedback_loses_no_label(graph):
    learner, peer, spin_until = graph
    act_on_steps(peer, spin_until, 3)
    peer.label(0)
    peer.label(1)
    assert spin_until(lambda: len(learner.streams[0].labels.get(1, {})) == 2)
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
