"""The four nodes as separate processes over real DDS (loopback, this run's domain id)."""

import os
import signal
import time

import pytest

pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")

from iteach_ros.msg import EpisodeEvent  # noqa: E402
from iteach_ros.ros.launcher import Graph, build_processes  # noqa: E402
from ros_monitor import MonitorThread  # noqa: E402

pytestmark = pytest.mark.ros

# Small and quick: reach_target episodes take ~40 steps under the teacher's corrections.
FAST = {"sim_bridge": {"start_delay_s": 2.0, "action_timeout_s": 20.0, "max_steps": 80,
                       "image_size": 64, "min_subscribers": 3},  # + this test's monitor
        "learner": {"image_size": 64, "batch_size": 2, "sequence_length": 40}}


def graph_for(tmp_path, episodes: int, monitored: bool = True, executor: str = "", **extra):
    params = {node: dict(values) for node, values in FAST.items()}
    if not monitored:
        params["sim_bridge"]["min_subscribers"] = 2
    specs = build_processes({"task": "reach_target", "episodes": str(episodes), "seed": "3",
                             "checkpoint_dir": str(tmp_path / "learner"), "executor": executor},
                            parameters=params, **extra)
    return Graph(specs, env=dict(os.environ), echo=False)


@pytest.fixture
def monitor():
    m = MonitorThread()
    yield m
    m.close()


def ended(node):
    return [e for e in node.events if e[1] != EpisodeEvent.STARTED]


def test_two_episodes_end_to_end(tmp_path, monitor):
    graph = graph_for(tmp_path, episodes=2).start()
    try:
        assert graph.wait_for(["sim_bridge"], timeout=150), "episodes did not finish"
        assert monitor.wait_until(lambda n: len(ended(n)) == 2, 10)
        # the learner reports its buffer after each episode
        assert monitor.wait_until(
            lambda n: any(int(d["trajectories"]) >= 2 for d in n.diagnostics), 10)
    finally:
        graph.stop()
    n = monitor.node
    assert not graph.failed(), {k: graph.lines[k][-5:] for k in graph.failed()}
    assert [e[1] for e in n.events].count(EpisodeEvent.STARTED) == 2
    assert len(n.observations) > 10
    # every observation got exactly one executed action, and nothing else was executed
    assert set(n.executed) == n.observations
    assert set(n.executed.values()) == {1}
    # one feedback record per executed step
    assert n.feedback == n.executed
    steps_per_episode = {e[0]: e[3] for e in ended(n)}
    for episode, steps in steps_per_episode.items():
        assert len(n.feedback_steps[episode]) == steps
    saved = sorted((tmp_path / "learner" / "trajectories").glob("*.npz"))
    assert len(saved) == 2
    assert (tmp_path / "learner" / "learner.pt").exists()


def test_learner_killed_mid_episode_resumes_without_losing_feedback(tmp_path, monitor):
    import numpy as np

    from iteach_ros.learning.buffer import load_trajectory

    graph = graph_for(tmp_path, episodes=3).start()
    try:
        # mid-way through episode 2, once the learner's checkpoint from episode 1 is on disk
        checkpoint = tmp_path / "learner" / "learner.pt"
        assert monitor.wait_until(
            lambda n: len(n.feedback_steps[2]) >= 10 and checkpoint.exists(), 120)
        graph.procs["learner"].send_signal(signal.SIGKILL)
        graph.procs["learner"].wait(10)
        killed_at = len(monitor.node.feedback_steps[2])
        time.sleep(1.0)
        graph.start(only=["learner"])
        assert graph.wait_for(["sim_bridge"], timeout=150), "episodes did not finish"
        assert monitor.wait_until(lambda n: len(ended(n)) == 3, 10)
        time.sleep(1.0)  # the last trajectory is written on the final end event
    finally:
        graph.stop()
    n = monitor.node
    assert any("resumed from" in line for line in graph.lines["learner"])
    assert killed_at < max(n.feedback_steps[2]) + 1  # the episode went on after the restart
    saved = {int(p.stem.split("_")[-1]): load_trajectory(p)
             for p in (tmp_path / "learner" / "trajectories").glob("*.npz")}
    assert sorted(saved) == [1, 2, 3]
    for episode, traj in saved.items():
        # every feedback record that crossed the graph is in the learner's buffer
        assert len(traj) == len(n.feedback_steps[episode]), episode
        assert np.all(np.isfinite(traj.actions))


@pytest.mark.parametrize("module, params, message", [
    ("iteach_ros.ros.arbiter_node", ["mode:=sometimes"], "mode must be one of"),
    ("iteach_ros.ros.teacher_node", ["policy_source:=/nonexistent/policy.py"],
     "or a file"),
    ("iteach_ros.ros.sim_bridge_node", ["task:=make_coffee"], "unknown task"),
    ("iteach_ros.ros.teacher_node", ["executor:=fancy"], "executor must be one of"),
])
def test_bad_parameters_stop_a_node_with_one_clear_line(module, params, message):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", module, "--ros-args"]
    for p in params:
        cmd += ["-p", p]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_two_pipelines_feed_one_learner(tmp_path):
    # ... on rclpy's Python executor (the other tests run the default, the EventsExecutor)
    graph = graph_for(tmp_path, episodes=1, monitored=False, pipelines=2,
                      executor="single_threaded")
    assert all("executor:=single_threaded" in spec.cmd for spec in graph.specs)
    arbiters = ["pipe0/arbiter", "pipe1/arbiter"]
    try:
        # Without their arbiters nothing could answer: the simulators do not start (the learner
        # has journalled no observation).
        graph.start(only=[s.name for s in graph.specs if s.name not in arbiters])
        journal_dir = tmp_path / "learner" / "journal"
        deadline = time.monotonic() + 60
        while len(list(journal_dir.glob("*.bin"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # the learner is up once its journals exist
        time.sleep(4.0)  # simulators that started now would have been answered by now
        journals = list(journal_dir.glob("*.bin"))
        from iteach_ros.learning.journal import MAGIC

        assert len(journals) == 2  # and no record after the header in either
        assert all(j.stat().st_size == len(MAGIC) for j in journals)
        graph.start(only=arbiters)
        names = sorted(graph.procs)
        assert names == ["learner", "pipe0/arbiter", "pipe0/sim_bridge", "pipe0/teacher",
                         "pipe1/arbiter", "pipe1/sim_bridge", "pipe1/teacher"]
        assert graph.wait_for(["pipe0/sim_bridge", "pipe1/sim_bridge"], timeout=150)
        time.sleep(1.5)  # the learner writes the last trajectory on the final end event
    finally:
        graph.stop()
    assert not graph.failed(), {k: graph.lines[k][-5:] for k in graph.failed()}
    saved = sorted(p.stem for p in (tmp_path / "learner" / "trajectories").glob("*.npz"))
    assert [s.split("_")[0] + "_" + s.split("_")[-1] for s in saved] == [
        "pipe0_000001", "pipe1_000001"]  # <pipeline>_<run id>_<episode>


def test_the_launcher_ends_the_graph_when_a_node_dies(tmp_path, ros_env):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "iteach_ros.ros.launcher", "--task", "reach_target",
           "--episodes", "50", "--checkpoint-dir", str(tmp_path / "learner")]
    proc = subprocess.Popen(cmd, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines = []
    try:
        for line in proc.stdout:  # until the learner serves
            lines.append(line)
            if "[learner]" in line and "serving" in line:
                break
        time.sleep(2.0)
        learner = subprocess.run(["pgrep", "-f", "iteach_ros.ros.learner_node.*" +
                                  str(tmp_path)], capture_output=True, text=True)
        os.kill(int(learner.stdout.split()[0]), signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)  # not the 50 episodes, nor forever
    finally:
        proc.kill()
    text = "".join(lines) + out
    assert proc.returncode == 1
    assert "learner exited with -9" in text and "stopping the graph" in text


def test_two_graphs_on_one_domain_are_refused(tmp_path, ros_env):
    """Two simulators publishing on the same topics would mix their episodes."""
    import subprocess
    import sys

    import rclpy

    from iteach_ros.ros import interfaces as topics

    rclpy.init()
    node = rclpy.create_node("executed_stand_in")  # lets the simulators start their episodes
    topics.EXECUTED_ACTION.publisher(node)
    cmd = [sys.executable, "-m", "iteach_ros.ros.sim_bridge_node", "--ros-args", "-p",
           "task:=reach_target", "-p", "min_subscribers:=0", "-p", "pace:=free", "-p",
           "episodes:=100", "-p",
           "image_size:=32", "-p", "start_delay_s:=0.2", "-p", "action_timeout_s:=1.0"]
    procs = []
    try:
        for _ in range(2):
            procs.append(subprocess.Popen(cmd, env=ros_env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
            time.sleep(3.0)
        deadline = time.monotonic() + 60
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.2)
        for p in procs:  # the first to see the other's episodes stops; end the other too
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        outs = [p.communicate(timeout=30)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
        node.destroy_node()
        rclpy.try_shutdown()
    refused = [o for p, o in zip(procs, outs) if p.returncode == 1]
    assert refused, outs
    assert all("another simulator" in o and "two graphs on one ROS domain" in o for o in refused)
