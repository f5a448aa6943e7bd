"""The teacher node in this process over real DDS: a CodePolicy file runs in a sandbox worker by
default; a worker that dies mid-episode fails the rest of that episode (each step's Action says
why) and the next episode gets a fresh worker; the node never crashes."""

import os
import signal

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.node import Node  # noqa: E402

from iteach_ros.codepolicy.reference import load_reference  # noqa: E402
from iteach_ros.codepolicy.sandbox import SandboxedPolicy, WorkerPolicy  # noqa: E402
from iteach_ros.ros import interfaces as topics  # noqa: E402
from iteach_ros.ros.conversions import observation_to_msg  # noqa: E402
from iteach_ros.ros.teacher_node import TeacherNode  # noqa: E402
from ros_monitor import nodes_in_this_process  # noqa: E402

pytestmark = pytest.mark.ros
TASK = "reach_target"


class Peer(Node):
    """Plays sim_bridge towards the teacher and keeps its actions by (episode, step)."""

    def __init__(self):
        super().__init__("teacher_peer")
        self.observations = topics.OBSERVATION.publisher(self)
        self.actions = {}
        topics.TEACHER_ACTION.subscription(
            self, lambda m: self.actions.setdefault((m.episode, m.step), m))


@pytest.fixture
def env():
    from iteach_ros.sim import make_env

    env = make_env(TASK, render_wrist=False, max_steps=60)
    yield env
    env.close()


def teacher_graph(path, sandbox=None):
    args = ["--ros-args", "-p", f"task:={TASK}", "-p", f"policy_source:={path}"]
    if sandbox:
        args += ["-p", f"sandbox:={sandbox}"]
    return nodes_in_this_process(lambda: (TeacherNode(), Peer()), args=args)


def test_a_killed_worker_fails_the_rest_of_its_episode_and_the_next_gets_a_fresh_one(
        tmp_path, env):
    path = tmp_path / "policy.py"
    path.write_text(load_reference(TASK))
    with teacher_graph(path) as ((teacher, peer), spin_until):
        assert isinstance(teacher.policy, WorkerPolicy)
        assert spin_until(lambda: peer.observations.get_subscription_count() == 1)

        def answer(episode, obs):
            peer.observations.publish(observation_to_msg(
                obs, stamp=Time(sec=10 * episode + obs.step), episode=episode, task=TASK,
                seed=episode, run_id=1))
            assert spin_until(lambda: (episode, obs.step) in peer.actions)
            return peer.actions[(episode, obs.step)]

        obs, _ = env.reset(seed=1)
        first = answer(1, obs)
        assert not first.error and len(first.values) == 4
        obs = env.step(first.values)[0]
        os.kill(teacher.policy._worker.proc.pid, signal.SIGKILL)
        for _ in range(2):  # that step and every later one of the episode
            lost = answer(1, obs)
            assert "SandboxError: [memory] the worker was killed (SIGKILL" in lost.error
            assert "the episode failed" in lost.error and list(lost.values) == []
            assert lost.episode_failed  # the arbiter then fails the episode (as in-process)
            obs = env.step([0.0, 0.0, 0.0, 0.9])[0]
        assert teacher.failed_episode == (1, 1)  # logged as an error once
        obs, _ = env.reset(seed=2)
        fresh = answer(2, obs)
        assert not fresh.error and len(fresh.values) == 4
        assert teacher.policy.restarts == 1 and teacher.policy._worker.alive()
        worker = teacher.policy._worker
    assert worker.dead  # the node closes its worker when it is destroyed


def test_the_in_process_sandbox_is_a_parameter_away(tmp_path):
    path = tmp_path / "policy.py"
    path.write_text(load_reference(TASK))
    with teacher_graph(path, "in_process") as ((teacher, _peer), _spin_until):
        assert isinstance(teacher.policy, SandboxedPolicy)
