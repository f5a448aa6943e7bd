"""The simulator node in this process over real DDS: with pace "episode" each episode waits for
the learner's training status, and the wait is reported on /diagnostics."""

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.node import Node  # noqa: E402

from iteach_ros.msg import Action, EpisodeEvent, TrainingStatus  # noqa: E402
from iteach_ros.ros import interfaces as topics  # noqa: E402
from iteach_ros.ros.sim_bridge_node import SimBridgeNode  # noqa: E402
from ros_monitor import nodes_in_this_process  # noqa: E402

SERVICE_TIMEOUT_S = 30.0  # discovery of a new service client on a loaded 2-core host

pytestmark = pytest.mark.ros


class Peer(Node):
    """Plays learner (observations in, training status out) and arbiter (executed actions)."""

    def __init__(self):
        super().__init__("sim_peer")
        self.status = topics.TRAINING_STATUS.publisher(self)
        self.executed = topics.EXECUTED_ACTION.publisher(self)
        self.observations, self.events, self.waiting = [], [], []
        topics.OBSERVATION.subscription(self, self.observations.append)
        topics.EPISODE_EVENT.subscription(self, self.events.append)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._diagnostics, 10)

    def _diagnostics(self, msg):
        for status in msg.status:
            if status.name.startswith("iteach_ros/sim_bridge"):
                values = {kv.key: kv.value for kv in status.values}
                self.waiting.append(values["waiting_for_learner"] == "True")

    def report(self, last_episode: int, ready: bool = True, run: int = 0):
        self.status.publish(TrainingStatus(run_id=run, last_episode=last_episode, ready=ready,
                                           gradient_steps=10, target_steps=10))

    def answer_last(self, values=(0.0, 0.0, 0.9, 0.9), source=Action.SOURCE_EXECUTED,
                    run: int | None = None):
        obs = self.observations[-1]
        self.executed.publish(Action(run_id=obs.run_id if run is None else run,
                                     episode=obs.episode, step=obs.step, source=source,
                                     values=list(values)))


def ended(peer):
    return [e for e in peer.events if e.event != EpisodeEvent.STARTED]


@pytest.fixture
def graph():
    params = ["--ros-args", "-p", "task:=reach_target", "-p", "image_size:=32", "-p",
              "max_steps:=2", "-p", "episodes:=2", "-p", "min_subscribers:=1", "-p",
              "start_delay_s:=0.1", "-p", "pace:=episode"]
    with nodes_in_this_process(lambda: (SimBridgeNode(), Peer()), params) as ((sim, peer),
                                                                             spin_until):
        yield sim, peer, spin_until


def run_episode(peer, spin_until):
    for _ in range(2):  # max_steps: every answered step ends in the step limit after two
        assert spin_until(lambda: peer.observations)
        n = len(ended(peer))
        peer.answer_last()
        assert spin_until(lambda n=n: len(ended(peer)) > n or len(peer.observations) > 1)
        if len(ended(peer)) > n:
            return
        peer.observations.pop(0)


def test_each_episode_waits_for_the_learner_and_says_so(graph):
    sim, peer, spin_until = graph
    # no training status yet: the first episode does not start, and the wait is reported
    assert spin_until(lambda: peer.waiting and peer.waiting[-1], timeout=8.0)
    assert not peer.observations and sim.gate.waiting
    peer.report(last_episode=0)
    assert spin_until(lambda: peer.observations)
    run_episode(peer, spin_until)
    assert len(ended(peer)) == 1
    # episode 1 ended: the next waits until the learner reports it stored (and trained)
    peer.observations.clear()
    spin_until(lambda: False, timeout=0.5)
    assert not peer.observations and sim.gate.waiting
    peer.report(last_episode=1, ready=True, run=sim.run_id + 1)  # another run's episode 1
    spin_until(lambda: False, timeout=0.5)
    assert not peer.observations
    peer.report(last_episode=1, ready=False, run=sim.run_id)  # stored, training behind
    spin_until(lambda: False, timeout=0.5)
    assert not peer.observations
    peer.report(last_episode=1, ready=True, run=sim.run_id)
    assert spin_until(lambda: peer.observations)
    assert sim.gate.total_wait_s > 0.9  # both waits counted
    run_episode(peer, spin_until)
    # the run is complete only once the learner has finished with the last episode too
    spin_until(lambda: False, timeout=0.3)
    assert not sim.finished
    peer.report(last_episode=2, run=sim.run_id)
    assert spin_until(lambda: sim.finished)


@pytest.mark.parametrize("values, source, reason", [
    ([1e30, 0.0, 0.0, 0.9], None, "outside"), ([0.5] * 5, None, "5 values"),
    ([0.0, 0.0, 0.9, 0.9], 0, "source 0"),  # the agent's proposal, not a decision
])
def test_only_valid_decisions_of_this_run_are_executed(graph, values, source, reason):
    sim, peer, spin_until = graph
    peer.report(last_episode=0)
    assert spin_until(lambda: peer.observations)
    kwargs = {} if source is None else {"source": source}
    peer.answer_last(values, **kwargs)
    peer.answer_last(run=sim.run_id + 1)  # another run's decision for the same step
    spin_until(lambda: False, timeout=0.5)
    assert len(peer.observations) == 1  # not stepped: still awaiting a valid decision
    assert sim.lockstep.awaited == (sim.run_id, 1, 0)
    peer.answer_last()
    assert spin_until(lambda: len(peer.observations) == 2)


def test_an_executed_action_that_fails_the_episode_ends_it_with_its_reason(graph):
    sim, peer, spin_until = graph
    peer.report(last_episode=0)
    assert spin_until(lambda: peer.observations)
    obs = peer.observations[-1]
    peer.executed.publish(Action(run_id=obs.run_id, episode=obs.episode, step=obs.step,
                                 source=Action.SOURCE_EXECUTED, episode_failed=True,
                                 error="teacher error: SandboxError: [crash] gone"))
    assert spin_until(lambda: ended(peer))
    end = ended(peer)[0]
    assert end.event == EpisodeEvent.FAILED and end.steps == 0
    assert end.reason == "teacher error: SandboxError: [crash] gone"


def _answer_until_ended(peer, spin_until, episodes: int) -> None:
    """Plays the arbiter: answers every observation until ``episodes`` more have ended."""
    target = len(ended(peer)) + episodes
    answered = set()
    while len(ended(peer)) < target:
        assert spin_until(lambda: len(ended(peer)) >= target or (
            peer.observations and (peer.observations[-1].episode,
                                   peer.observations[-1].step) not in answered), timeout=10)
        if peer.observations and len(ended(peer)) < target:
            obs = peer.observations[-1]
            if (obs.episode, obs.step) not in answered:
                answered.add((obs.episode, obs.step))
                peer.answer_last()


def _transition(peer, spin_until, transition_id: int) -> bool:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    # One client per peer: a new client must be discovered again, which on a loaded host took >5 s.
    client = getattr(peer, "change_state", None)
    if client is None:
        client = peer.change_state = peer.create_client(ChangeState, "/sim_bridge/change_state")
    assert spin_until(client.service_is_ready, timeout=SERVICE_TIMEOUT_S)
    future = client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
    assert spin_until(future.done, timeout=SERVICE_TIMEOUT_S)
    return future.result().success


def test_deactivate_pauses_without_losing_the_episode(graph):
    from lifecycle_msgs.msg import Transition

    sim, peer, spin_until = graph
    peer.report(last_episode=0)
    assert spin_until(lambda: peer.observations)
    assert _transition(peer, spin_until, Transition.TRANSITION_DEACTIVATE)
    before = len(peer.observations)
    peer.answer_last()  # arrives while paused: held, not executed
    spin_until(lambda: False, timeout=0.5)
    assert len(peer.observations) == before and sim.held is not None
    assert _transition(peer, spin_until, Transition.TRANSITION_ACTIVATE)
    assert spin_until(lambda: len(peer.observations) > before)  # the held step ran
    assert peer.observations[-1].step == 1 and peer.observations[-1].episode == 1


@pytest.fixture
def idle_graph():
    params = ["--ros-args", "-p", "task:=reach_target", "-p", "image_size:=32", "-p",
              "max_steps:=2", "-p", "episodes:=0", "-p", "min_subscribers:=1", "-p",
              "start_delay_s:=0.1", "-p", "pace:=free", "-p", "seed:=40"]
    with nodes_in_this_process(lambda: (SimBridgeNode(), Peer()), params) as ((sim, peer),
                                                                             spin_until):
        assert spin_until(lambda: sim.connected)
        yield sim, peer, spin_until


def test_reset_requests_take_the_next_seed_or_the_given_one(idle_graph):
    from iteach_ros.srv import ResetEpisode

    sim, peer, spin_until = idle_graph
    client = peer.create_client(ResetEpisode, "/reset_episode")
    assert spin_until(client.service_is_ready, timeout=SERVICE_TIMEOUT_S)

    def call(**kw):
        future = client.call_async(ResetEpisode.Request(**kw))
        assert spin_until(future.done)
        return future.result()

    first, second = call(), call()  # {}: the next seeds, not seed 0 again
    assert (first.success, first.seed, second.seed) == (True, 40, 41)
    assert second.run_id == sim.run_id
    given = call(use_seed=True, seed=7)
    assert given.seed == 7 and given.episode == 3
    other = call(task="close_microwave")
    assert not other.success and "restart with task:=close_microwave" in other.message
    # the interrupted episodes ended as failed, said so
    assert [e.reason for e in ended(peer)][:2] == ["reset requested", "reset requested"]


def test_run_episodes_action_reports_each_episode_and_the_success_rate(idle_graph):
    from rclpy.action import ActionClient

    from iteach_ros.action import RunEpisodes

    sim, peer, spin_until = idle_graph
    client = ActionClient(peer, RunEpisodes, "/run_episodes")
    assert client.wait_for_server(timeout_sec=5.0)
    feedback = []
    sent = client.send_goal_async(RunEpisodes.Goal(episodes=2, use_seed=True, seed=5),
                                  feedback_callback=lambda f: feedback.append(f.feedback))
    assert spin_until(sent.done) and sent.result().accepted
    result_future = sent.result().get_result_async()
    _answer_until_ended(peer, spin_until, 2)
    assert spin_until(result_future.done, timeout=10)
    result = result_future.result().result
    assert (result.episodes, result.run_id) == (2, sim.run_id)
    assert 0.0 <= result.success_rate <= 1.0
    assert [f.done for f in feedback] == [1, 2] and [f.seed for f in feedback] == [5, 6]
    # a node with a schedule of its own refuses goals
    assert sim.schedule is None


def test_cleanup_undoes_configure_and_a_new_configure_starts_afresh(idle_graph):
    """cleanup ends the paused episode and the goal running it, and destroys what configure
    created (the scene's TF and descriptions too); configure again gives one of each again."""
    from action_msgs.msg import GoalStatus
    from lifecycle_msgs.msg import Transition
    from rclpy.action import ActionClient

    from iteach_ros.action import RunEpisodes

    sim, peer, spin_until = idle_graph
    descriptions = []
    topics.ROBOT_DESCRIPTION.subscription(peer, descriptions.append)
    names = ["/" + t.name for t in (topics.OBSERVATION, topics.EPISODE_EVENT, topics.TF,
                                    topics.TF_STATIC, topics.CAMERA_INFO,
                                    topics.ROBOT_DESCRIPTION)]

    def publishers(n):
        return spin_until(lambda: all(peer.count_publishers(t) == n for t in names))

    assert publishers(1) and spin_until(lambda: descriptions)
    client = ActionClient(peer, RunEpisodes, "/run_episodes")
    assert client.wait_for_server(timeout_sec=5.0)
    sent = client.send_goal_async(RunEpisodes.Goal(episodes=3))
    assert spin_until(sent.done) and sent.result().accepted
    result = sent.result().get_result_async()
    assert spin_until(lambda: peer.observations)
    assert _transition(peer, spin_until, Transition.TRANSITION_DEACTIVATE)
    assert _transition(peer, spin_until, Transition.TRANSITION_CLEANUP)
    assert spin_until(result.done) and result.result().status == GoalStatus.STATUS_ABORTED
    assert [e.reason for e in ended(peer)] == ["simulator cleaned up"]
    assert sim.env is None and publishers(0)

    descriptions.clear()
    assert _transition(peer, spin_until, Transition.TRANSITION_CONFIGURE)
    assert publishers(1) and spin_until(lambda: descriptions)  # latched again, once
    assert _transition(peer, spin_until, Transition.TRANSITION_ACTIVATE)
    assert spin_until(lambda: sim.connected)
    peer.observations.clear()
    reset = peer.create_client(topics.RESET_EPISODE.type, "/reset_episode")
    assert spin_until(reset.service_is_ready, timeout=SERVICE_TIMEOUT_S)
    future = reset.call_async(topics.RESET_EPISODE.type.Request())
    assert spin_until(future.done) and future.result().success
    assert spin_until(lambda: peer.observations)
    peer.answer_last()
    assert spin_until(lambda: len(peer.observations) == 2)  # the new scene steps
