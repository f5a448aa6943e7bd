"""The package as a ROS 2 user drives it, with the upstream Jazzy tools: ``ros2 launch`` (ends on
its own, ends with the reason when a node fails, Ctrl-C ends every node cleanly, defaults shown,
namespaces nest), ``ros2 param`` (live parameters, refusals with reasons), ``ros2 lifecycle``,
``ros2 action``. The tools come from ../shared/ros2_upstream (``install.sh VENV``; CI installs
them); without them these tests skip."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("launch_ros", reason="upstream launch_ros missing: "
                    "bash ../shared/ros2_upstream/install.sh .venv")
ROS2 = shutil.which("ros2", path=str(Path(sys.executable).parent))
if ROS2 is None:
    pytest.skip("the ros2 command is missing: bash ../shared/ros2_upstream/install.sh .venv",
                allow_module_level=True)

pytestmark = pytest.mark.ros
FAST = ["task:=reach_target"]


@pytest.fixture
def env(ros_env):
    e = dict(ros_env)
    e["AMENT_PREFIX_PATH"] = sys.prefix  # the venv is this package's install prefix
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e['PATH']}"
    e["ROS_DISTRO"] = "jazzy"
    return e


def launch(env, *args, **kw) -> subprocess.Popen:
    return subprocess.Popen([ROS2, "launch", "iteach_ros", "iteach.launch.py", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **kw)


def read_until(proc, needle: str, timeout: float = 120.0) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        if needle in line or time.monotonic() > deadline:
            break
    assert needle in "".join(lines[-1:]), "".join(lines[-30:])
    return lines


def ros2(env, *args, timeout: float = 60.0) -> subprocess.CompletedProcess:
    if args[0] == "param":  # discovery on a loaded machine takes longer than the 1 s default
        args = (*args, "--timeout", "20")
    return subprocess.run([ROS2, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def wait_for_nodes(env, names: set[str], timeout: float = 60.0) -> None:
    deadline, seen = time.monotonic() + timeout, set()
    while time.monotonic() < deadline:
        listed = ros2(env, "node", "list", "--no-daemon", "--spin-time", "2").stdout
        seen = set(listed.split())
        if names <= seen:
            return
    raise AssertionError(f"nodes {sorted(names - seen)} not discovered in {timeout} s")


def test_show_args_gives_the_real_defaults(env):
    out = ros2(env, "launch", "iteach_ros", "iteach.launch.py", "--show-args").stdout
    assert "(default: 'push_button')" in out and "(default: '20.0')" in out


def test_the_launch_ends_when_every_simulator_has_finished(env, tmp_path):
    proc = launch(env, *FAST, "episodes:=2", f"checkpoint_dir:={tmp_path}")
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]
    assert "every simulator has ended" in out
    assert out.count("process has finished cleanly") == 4, out[-3000:]
    assert (tmp_path / "learner.pt").exists()


def test_the_deploy_launch_runs_a_policy_against_the_simulator_and_ends(env, tmp_path):
    from iteach_ros.learning.buffer import ReplayBuffer
    from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
    from iteach_ros.learning.trainer import Trainer, TrainerConfig

    ckpt = Trainer(CeilingPolicy(PolicyConfig(image_size=32)), ReplayBuffer(),
                   TrainerConfig()).save_checkpoint(tmp_path / "policy.pt")
    proc = subprocess.run([ROS2, "launch", "iteach_ros", "deploy.launch.py",
                           f"checkpoint:={ckpt}", "sim:=true", "task:=reach_target",
                           "episodes:=2", "image_size:=32"], env=env, capture_output=True,
                          text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "2 episodes done" in out and "the simulator's episodes are done" in out, out[-3000:]
    assert out.count("process has finished cleanly") == 2, out[-3000:]


def test_a_failing_node_ends_the_launch_with_its_reason(env):
    proc = launch(env, *FAST, "policy_source:=/nonexistent/policy.py")
    out, _ = proc.communicate(timeout=120)
    assert "cannot start" in out and "/nonexistent/policy.py" in out and "or a file" in out
    assert "/teacher exited with 1" in out and "shutting down" in out


def test_a_bad_launch_argument_is_refused_at_once(env):
    proc = launch(env, *FAST, "beta:=-5")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "launch argument beta:=-5" in out and "[0.0, 180.0]" in out


def test_ctrl_c_to_the_process_group_ends_every_node_cleanly(env, tmp_path):
    proc = launch(env, *FAST, "episodes:=50", f"checkpoint_dir:={tmp_path}", "record:=yes")
    try:
        read_until(proc, "episode 1 (seed 0)")
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert out.count("process has finished cleanly") == 5, out[-4000:]  # recorder included
    for bad in ("Traceback", "error_already_set", "exit code -", "KeyboardInterrupt"):
        assert bad not in out, out[-4000:]
    assert (tmp_path / "learner.pt").exists()


def test_sigterm_ends_each_node_cleanly(ros_env, tmp_path):
    from iteach_ros.ros.launcher import Graph, build_processes

    graph = Graph(build_processes({"task": "reach_target", "episodes": "50",
                                   "checkpoint_dir": str(tmp_path)}),
                  env=ros_env, echo=False).start()
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "trajectories").exists() and time.monotonic() < deadline:
            time.sleep(0.2)  # a first episode stored: every node is up and working
        codes = {}
        for name in ("arbiter", "teacher", "learner", "sim_bridge"):
            graph.procs[name].send_signal(signal.SIGTERM)
            codes[name] = graph.procs[name].wait(30)
    finally:
        graph.stop()
    assert codes == {"arbiter": 0, "teacher": 0, "learner": 0, "sim_bridge": 0}, {
        n: graph.tail(n) for n in codes}
    assert not any("Traceback" in line for lines in graph.lines.values() for line in lines)


@pytest.fixture
def running_graph(env, tmp_path):
    """The four nodes from the launch file, the simulator serving the run_episodes action."""
    proc = launch(env, *FAST, "episodes:=0", f"checkpoint_dir:={tmp_path}")
    try:
        read_until(proc, "serving the run_episodes action")
        wait_for_nodes(env, {"/arbiter", "/teacher", "/learner", "/sim_bridge"})
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)


def test_ros2_param_changes_the_arbiter_live_and_refuses_with_reasons(env, running_graph):
    ok = ros2(env, "param", "set", "/arbiter", "beta_deg", "30.0")
    assert "Set parameter successful" in ok.stdout, ok.stdout + ok.stderr
    assert "30.0" in ros2(env, "param", "get", "/arbiter", "beta_deg").stdout
    for node, name, value, reason in (("/arbiter", "beta_deg", "-5.0", "out of range"),
                                      ("/arbiter", "mode", "bogus", "must be one of"),
                                      ("/sim_bridge", "task", "close_microwave", "read-only")):
        bad = ros2(env, "param", "set", node, name, value)
        said = bad.stdout + bad.stderr
        assert "parameter failed" in said and reason in said, said
    described = ros2(env, "param", "describe", "/arbiter", "beta_deg").stdout
    assert "Min value: 0.0" in described and "Max value: 180.0" in described


def test_ros2_lifecycle_pauses_and_resumes_the_learner(env, running_graph):
    def state(expected: str) -> str:
        # a loaded machine may need more than one discovery round to find the services
        for _ in range(5):
            out = ros2(env, "lifecycle", "get", "/learner", "--no-daemon", "--spin-time",
                       "3").stdout
            if out.strip():
                break
        assert expected in out, out
        return out

    state("active [3]")
    for transition, expected in (("deactivate", "inactive [2]"), ("activate", "active [3]")):
        for _ in range(5):
            said = ros2(env, "lifecycle", "set", "/learner", transition, "--no-daemon",
                        "--spin-time", "3")
            if "not found" not in said.stdout + said.stderr:
                break
        assert "Transitioning successful" in said.stdout, said.stdout + said.stderr
        state(expected)


def test_ros2_action_runs_episodes_with_feedback_and_a_success_rate(env, running_graph):
    done = ros2(env, "action", "send_goal", "--feedback", "/run_episodes",
                "iteach_ros/action/RunEpisodes", "{episodes: 2, use_seed: true, seed: 3}",
                timeout=240)
    assert "Goal finished with status: SUCCEEDED" in done.stdout, done.stdout + done.stderr
    assert done.stdout.count("done: ") == 2 and "success_rate:" in done.stdout


def test_namespaces_nest_under_an_including_launch_file(env, tmp_path):
    outer = tmp_path / "outer.launch.py"
    outer.write_text(
        "from launch import LaunchDescription\n"
        "from launch.actions import GroupAction, IncludeLaunchDescription\n"
        "from launch.launch_description_sources import PythonLaunchDescriptionSource\n"
        "from launch_ros.actions import PushRosNamespace\n"
        "from ament_index_python.packages import get_package_share_directory\n"
        "def generate_launch_description():\n"
        "    path = get_package_share_directory('iteach_ros') + '/launch/iteach.launch.py'\n"
        "    return LaunchDescription([GroupAction([PushRosNamespace('robot7'),\n"
        "        IncludeLaunchDescription(PythonLaunchDescriptionSource(path),\n"
        "            launch_arguments={'pipelines': '2', 'task': 'reach_target',\n"
        "                              'episodes': '1'}.items())])])\n")
    proc = subprocess.Popen([ROS2, "launch", str(outer)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    for name in ("[robot7.pipe0.sim_bridge]", "[robot7.pipe1.sim_bridge]",
                 "[robot7.learner]"):
        assert name in out, out[-3000:]
    # and the two pipelines ran different episodes
    assert "(seed 0)" in out and "(seed 10000000)" in out
