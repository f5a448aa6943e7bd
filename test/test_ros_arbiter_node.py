"""The arbiter node in this process over real DDS: a restarted simulator is a new run, malformed
actions never become decisions, and markers (with the observation subscription behind them)
only while someone watches."""

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
from builtin_interfaces.msg import Time  # noqa: E402
from geometry_msgs.msg import Point  # noqa: E402
from rclpy.node import Node  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from iteach_ros.msg import Action, EpisodeEvent, Observation  # noqa: E402
from iteach_ros.ros import interfaces as topics  # noqa: E402
from iteach_ros.ros.arbiter_node import ArbiterNode  # noqa: E402
from ros_monitor import nodes_in_this_process  # noqa: E402

pytestmark = pytest.mark.ros


def _stamped(sec: int) -> Header:
    return Header(stamp=Time(sec=sec))


class Peer(Node):
    """Plays sim_bridge, learner and teacher towards the arbiter and records what it says."""

    def __init__(self):
        super().__init__("arbiter_peer")
        self.agent = topics.AGENT_ACTION.publisher(self)
        self.teacher = topics.TEACHER_ACTION.publisher(self)
        self.events = topics.EPISODE_EVENT.publisher(self)
        self.observations = topics.OBSERVATION.publisher(self)
        self.executed = []
        self.feedback = []
        self.markers = []
        topics.EXECUTED_ACTION.subscription(
            self, lambda m: self.executed.append((m.episode, m.step)))
        topics.FEEDBACK.subscription(self, self.feedback.append)
        self.marker_sub = None

    def watch_markers(self):
        self.marker_sub = topics.MARKERS.subscription(self, self.markers.append)

    def act(self, episode: int, step: int, run: int = 1, teacher=(0.9, 0.0, 0.0, 0.9),
            agent=(0.9, 0.0, 0.0, 0.9)):
        header = _stamped(100 * run + step)  # the observation's stamp: a later run is newer
        for pub, source, values in ((self.teacher, Action.SOURCE_TEACHER, teacher),
                                    (self.agent, Action.SOURCE_AGENT, agent)):
            pub.publish(Action(header=header, run_id=run, episode=episode, step=step,
                               source=source, values=list(values)))


@pytest.fixture
def graph():
    with nodes_in_this_process(lambda: (ArbiterNode(), Peer())) as ((arbiter, peer), spin_until):
        assert spin_until(lambda: peer.agent.get_subscription_count() == 1
                          and peer.count_subscribers(topics.EPISODE_EVENT.name) == 1)
        yield arbiter, peer, spin_until


def test_a_restarted_simulator_is_a_new_run_and_its_predecessor_is_refused(graph):
    arbiter, peer, spin_until = graph
    for step in range(3):
        peer.act(1, step)
        assert spin_until(lambda s=step: (1, s) in peer.executed)
    peer.act(1, 0)  # a replay of an old step: dropped
    spin_until(lambda: False, timeout=0.5)
    assert peer.executed.count((1, 0)) == 1
    # a new simulator counts episodes from 1 again, in a run of its own
    peer.events.publish(EpisodeEvent(header=_stamped(200), run_id=2, episode=1,
                                     event=EpisodeEvent.STARTED))
    assert spin_until(lambda: arbiter.pairer.run == 2 and not arbiter.pairer.decided)
    peer.act(1, 0, run=2)
    assert spin_until(lambda: peer.executed.count((1, 0)) == 2)
    peer.act(1, 5, run=1)  # the old run's straggler
    spin_until(lambda: False, timeout=0.5)
    assert (1, 5) not in peer.executed


@pytest.mark.parametrize("teacher", [
    [0.9, 0.0, 0.0, 0.9, 0.0], [0.1] * 100, [1e30, 0.0, 0.0, 0.9], [float("nan")] * 4])
def test_a_malformed_teacher_action_lets_the_agent_act_unlabelled(graph, teacher):
    _, peer, spin_until = graph
    peer.act(1, 0, teacher=teacher, agent=[-0.9, 0.0, 0.0, 0.9])
    assert spin_until(lambda: peer.feedback)
    fb = peer.feedback[0]
    assert fb.kind == fb.KIND_NONE and not fb.train and list(fb.teacher_action) == []
    assert list(fb.executed_action) == [-0.9, 0.0, 0.0, 0.9]


def test_a_teacher_gone_for_the_episode_fails_it_as_in_one_process(graph):
    """The teacher's sandbox worker was lost: the executed action carries the failure (the
    simulator ends the episode with it, interaction.loop.ends_episode), and no label."""
    arbiter, peer, spin_until = graph
    got = []
    topics.EXECUTED_ACTION.subscription(peer, got.append)
    header = _stamped(101)
    peer.teacher.publish(Action(header=header, run_id=1, episode=1, step=0,
                                source=Action.SOURCE_TEACHER, error="SandboxError: [crash] x",
                                episode_failed=True))
    peer.agent.publish(Action(header=header, run_id=1, episode=1, step=0,
                              source=Action.SOURCE_AGENT, values=[0.9, 0.0, 0.0, 0.9]))
    assert spin_until(lambda: got)
    assert got[0].episode_failed and got[0].error == "teacher error: SandboxError: [crash] x"
    assert list(got[0].values) == []
    spin_until(lambda: False, timeout=0.3)
    assert not peer.feedback


def test_an_out_of_range_agent_action_is_corrected_never_approved(graph):
    _, peer, spin_until = graph
    peer.act(1, 0, agent=[9e29, 0.0, 0.0, 0.9])  # pointing the teacher's way, 9e29 long
    assert spin_until(lambda: peer.feedback)
    fb = peer.feedback[0]
    assert fb.kind == fb.KIND_CORRECTIVE and list(fb.executed_action) == [0.9, 0.0, 0.0, 0.9]
    assert list(fb.agent_action) == []


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
    peer.observations.publish(Observation(header=_stamped(101), run_id=1, episode=1, step=1,
                                          ee_position=ee))
    assert spin_until(lambda: (1, 1, 1) in arbiter.ee)
    peer.act(1, 1)
    assert spin_until(lambda: peer.markers)
    arrows = [m for m in peer.markers[0].markers if m.ns == "actions"]
    assert arrows[0].points[0] == ee  # the agent's arrow starts at the end effector

    peer.destroy_subscription(peer.marker_sub)
    assert spin_until(lambda: arbiter.marker_pub.get_subscription_count() == 0)
    arbiter.update_visualisation()
    assert arbiter.observation_sub is None


def _set(peer, spin_until, node: str, name: str, value):
    """``ros2 param set`` over the real parameter service; the SetParametersResult."""
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(peer, node)
    assert client.wait_for_services(timeout_sec=5.0)
    future = client.set_parameters([Parameter(name, value=value)])
    assert spin_until(future.done)
    return future.result().results[0]


def test_beta_set_at_run_time_is_used_by_the_next_decision(graph):
    arbiter, peer, spin_until = graph
    off_by_45 = [0.9, 0.9, 0.0, 0.9]  # 45 deg from the teacher's (0.9, 0, 0)
    peer.act(1, 0, agent=off_by_45)
    assert spin_until(lambda: len(peer.feedback) == 1)
    assert peer.feedback[0].kind == peer.feedback[0].KIND_CORRECTIVE  # beta 20
    assert _set(peer, spin_until, "arbiter", "beta_deg", 60.0).successful
    peer.act(1, 1, agent=off_by_45)
    assert spin_until(lambda: len(peer.feedback) == 2)
    assert peer.feedback[1].kind == peer.feedback[1].KIND_EVALUATIVE
    assert peer.feedback[1].beta_deg == 60.0 and arbiter.params.beta_deg == 60.0


@pytest.mark.parametrize("name, value, reason", [
    ("beta_deg", -5.0, "range"), ("beta_deg", 181.0, "range"),
    ("mode", "bogus", "must be one of"), ("executor", "single_threaded", "read-only"),
])
def test_bad_or_read_only_parameters_are_refused_with_a_reason(graph, name, value, reason):
    arbiter, peer, spin_until = graph
    result = _set(peer, spin_until, "arbiter", name, value)
    assert not result.successful and reason in result.reason, result.reason
    assert arbiter.arbiter.beta_deg == 20.0 and arbiter.arbiter.mode == "both"
