"""What the simulator's visualisation (TF and camera_info, ``ros.scene_frames``) costs the
lock-step, with nobody looking and with an RViz-like subscriber in another process.

    .venv/bin/python benchmarks/bench_scene_frames.py [--task push_button] [--window 8]
        [--rounds 3] [--md results/bench_scene_frames.md]

A real sim_bridge process (128x128 wrist camera, pace free) steps as fast as this process, which
plays the arbiter, answers its observations. Rounds alternate two cases, since this machine's
load drifts: "nobody looks" (no subscriber to tf or camera_info) and "RViz subscribed" (a child
process subscribing to tf, tf_static and camera_info as RViz does). Per case: control steps per
second at the arbiter, and sim_bridge's CPU time per step from /proc (user + system), the cost
the control loop's process pays. Last, in this process, the time of one
``SceneFramesPublisher.publish`` call while nobody subscribes (two subscription counts).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from md_report import write_markdown

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
NS = f"/bench_frames_{os.getpid()}"
RVIZ_LIKE = f"""
import rclpy
from rclpy.node import Node
from iteach_ros.ros import interfaces as topics
rclpy.init()
node = Node("rviz_like")
for t in (topics.TF, topics.TF_STATIC, topics.CAMERA_INFO):
    t.subscription(node, lambda m: None, "{NS}")
rclpy.spin(node)
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def idle_publish_us(node, task: str) -> float:
    from iteach_ros.ros.scene_frames import SceneFramesPublisher
    from iteach_ros.sim import make_env

    env = make_env(task)
    env.reset(seed=0)
    frames = SceneFramesPublisher(node, env)  # in this node's namespace: nobody subscribes
    stamp = node.get_clock().now().to_msg()
    times = []
    for _ in range(2000):
        t0 = time.perf_counter()
        frames.publish(stamp)
        times.append(time.perf_counter() - t0)
    env.close()
    return float(np.median(times) * 1e6)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="push_button")
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured per case")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--md", default="")
    args = parser.parse_args()

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from iteach_ros.msg import Action
    from iteach_ros.ros import interfaces as topics

    sim = subprocess.Popen(
        [sys.executable, "-m", "iteach_ros.ros.sim_bridge_node", "--ros-args", "-r",
         f"__ns:={NS}", "-p", f"task:={args.task}", "-p", "pace:=free", "-p", "episodes:=0",
         "-p", "min_subscribers:=1", "-p", "start_delay_s:=0.5", "-p", "max_steps:=200"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rclpy.init()
    node = Node("bench_arbiter")
    executed = topics.EXECUTED_ACTION.publisher(node, NS)
    steps = [0]

    def answer(obs):
        steps[0] += 1
        executed.publish(Action(run_id=obs.run_id, episode=obs.episode, step=obs.step,
                                source=Action.SOURCE_EXECUTED, values=[0.2, 0.3, -0.2, 1.0]))

    topics.OBSERVATION.subscription(node, answer, NS)
    executor = SingleThreadedExecutor()
    executor.add_node(node)

    def spin_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)

    results = {"nobody looks": [], "RViz subscribed": []}
    try:
        deadline = time.monotonic() + 60.0
        while steps[0] < 50:  # started, and past its first steps
            assert sim.poll() is None and time.monotonic() < deadline, "sim_bridge did not step"
            spin_for(0.1)
        for _ in range(args.rounds):
            for case in results:
                child = None
                if case == "RViz subscribed":
                    child = subprocess.Popen([sys.executable, "-c", RVIZ_LIKE], cwd=ROOT)
                    deadline = time.monotonic() + 30.0
                    while not node.get_subscriptions_info_by_topic(topics.TF.resolved(NS)):
                        assert time.monotonic() < deadline, "the subscriber did not appear"
                        spin_for(0.1)
                spin_for(1.0)  # settle (the child's start-up)
                s0, c0, t0 = steps[0], cpu_seconds(sim.pid), time.monotonic()
                spin_for(args.window)
                n, cpu, wall = steps[0] - s0, cpu_seconds(sim.pid) - c0, time.monotonic() - t0
                results[case].append((n / wall, cpu / n * 1e6))
                if child is not None:
                    child.terminate()
                    child.wait(timeout=10)
                    while node.get_subscriptions_info_by_topic(f"{NS}/{topics.TF.name}"):
                        spin_for(0.1)
        idle_us = idle_publish_us(node, args.task)
    finally:
        sim.terminate()
        sim.wait(timeout=20)
        node.destroy_node()
        rclpy.shutdown()
    load = os.getloadavg()
    lines = [f"{args.task}, 128x128 wrist camera, {args.rounds} rounds x {args.window:.0f} s "
             f"per case; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end.", "",
             "| case | steps/s (rounds) | sim_bridge CPU per step (rounds) |", "|---|---|---|"]
    for case, rows in results.items():
        rates, cpus = zip(*rows)
        lines.append(f"| {case} | {np.median(rates):.0f} ({', '.join(f'{r:.0f}' for r in rates)})"
                     f" | {np.median(cpus):.0f} us ({', '.join(f'{c:.0f}' for c in cpus)}) |")
    lines += ["", f"`SceneFramesPublisher.publish` while nobody subscribes, in one process: "
              f"{idle_us:.1f} us per call (median of 2000)."]
    print("\n".join(lines))
    if args.md:
        write_markdown(args.md, "bench_scene_frames.py", sys.argv[1:], lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
