"""The arbiter node in this process over real DDS: restart detection from episode events, and
markers (with the observation subscription behind them) only while someone watches."""

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
from geometry_msgs.msg import Point  # noqa: E402
from rclpy.node import Node  # noqa: E402

from iteach_ros.msg import Action, EpisodeEvent, Observation  # noqa: E402
from iteach_ros.ros import interfaces as io  # noqa: E402
from iteach_ros.ros.arbiter_node import ArbiterNode  # noqa: E402
from ros_monitor import nodes_in_this_process  # noqa: E402

pytestmark = pytest.mark.ros


class Peer(Node):
    """Plays sim_bridge, learner and teacher towards the arbiter and records what it says."""

    def __init__(self):
        super().__init__("arbiter_peer")
        self.agent = self.create_publisher(io.AGENT_ACTION.type, io.AGENT_ACTION.name,
                                           io.AGENT_ACTION.qos)
        self.teacher = self.create_publisher(io.TEACHER_ACTION.type, io.TEACHER_ACTION.name,
                                             io.TEACHER_ACTION.qos)
        self.events = self.create_publisher(io.EPISODE_EVENT.type, io.EPISODE_EVENT.name,
                                            io.EPISODE_EVENT.qos)
        self.observations = self.create_publisher(io.OBSERVATION.type, io.OBSERVATION.name,
                                                  io.OBSERVATION.qos)
        self.executed = []
        self.markers = []
        self.create_subscription(io.EXECUTED_ACTION.type, io.EXECUTED_ACTION.name,
                                 lambda m: self.executed.append((m.episode, m.step)),
                                 io.EXECUTED_ACTION.qos)
        self.marker_sub = None

    def watch_markers(self):
        self.marker_sub = self.create_subscription(io.MARKERS.type, io.MARKERS.name,
                                                   self.markers.append, io.MARKERS.qos)

    def act(self, episode: int, step: int):
        for pub, source in ((self.teacher, Action.SOURCE_TEACHER),
                            (self.agent, Action.SOURCE_AGENT)):
            pub.publish(Action(episode=episode, step=step, source=source,
                               values=[0.9, 0.0, 0.0, 0.9]))


@pytest.fixture
def graph():
    with nodes_in_this_process(lambda: (ArbiterNode(), Peer())) as ((arbiter, peer), spin_until):
        assert spin_until(lambda: peer.agent.get_subscription_count() == 1
                          and peer.count_subscribers(io.EPISODE_EVENT.name) == 1)
        yield arbiter, peer, spin_until


def test_a_restarted_simulator_is_recognised_from_its_episode_event(graph):
    arbiter, peer, spin_until = graph
    for step in range(3):
        peer.act(1, step)
        assert spin_until(lambda s=step: (1, s) in peer.executed)
    peer.act(1, 0)  # a replay of an old step: dropped
    spin_until(lambda: False, timeout=0.5)
    assert peer.executed.count((1, 0)) == 1
    # a new simulator starts counting episodes from 1 again
    peer.events.publish(EpisodeEvent(episode=1, event=EpisodeEvent.STARTED))
    assert spin_until(lambda: not arbiter.decided)
    peer.act(1, 0)
    assert spin_until(lambda: peer.executed.count((1, 0)) == 2)


def test_markers_and_observations_only_while_watched(graph):
    arbiter, peer, spin_until = graph
    arbiter.update_visualisation()
    assert arbiter.observation_sub is None  # nobody watches: no observation (image) traffic
    peer.act(1, 0)
    assert spin_until(lambda: (1, 0) in peer.executed)
    assert not peer.markers

    peer.watch_markers()
    assert spin_until(lambda: arbiter.marker_pub.get_subscription_count() == 1)
    arbiter.update_visualisation()  # what its 1 s timer does
    assert arbiter.observation_sub is not None
    assert spin_until(lambda: peer.observations.get_subscription_count() == 1)
    ee = Point(x=0.3, y=-0.1, z=0.9)
    peer.observations.publish(Observation(episode=1, step=1, ee_position=ee))
    assert spin_until(lambda: (1, 1) in arbiter.ee)
    peer.act(1, 1)
    assert spin_until(lambda: peer.markers)
    arrows = [m for m in peer.markers[0].markers if m.ns == "actions"]
    assert arrows[0].points[0] == ee  # the agent's arrow starts at the end effector

    peer.destroy_subscription(peer.marker_sub)
    assert spin_until(lambda: arbiter.marker_pub.get_subscription_count() == 0)
    arbiter.update_visualisation()
    assert arbiter.observation_sub is None
