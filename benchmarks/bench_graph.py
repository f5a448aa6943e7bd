"""Control steps per second through the ROS 2 graph (four processes over DDS on loopback) next to
the same loop in one process, and hop latencies, measured side by side in one run.

    .venv/bin/python benchmarks/bench_graph.py [--task reach_target] [--episodes 4]

In-process loop: env.step (with the 128x128 wrist camera) + policy inference + CodePolicy +
arbiter, no training. Graph: sim_bridge, teacher, arbiter and learner (train=false, so the two
loops do the same work) as separate processes; a monitor process-side node records when each
observation and executed action arrives.
- obs hop: observation receive time - its publish stamp (sim_bridge -> a subscriber; the wrist
  image travels beside it on its own topic);
- step round trip: executed action receive time - observation receive time at the monitor
  (obs -> learner and teacher, actions -> arbiter, executed -> out: three hops + compute).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))


def in_process(task: str, episodes: int, seed: int) -> tuple[int, float]:
    import torch

    from iteach_ros.codepolicy.teachers import make_teacher
    from iteach_ros.learning.arbiter import FeedbackArbiter
    from iteach_ros.learning.policy import CeilingPolicy
    from iteach_ros.sim import make_env

    torch.set_num_threads(1)  # as the runner and the graph's learner do
    env = make_env(task)
    policy, teacher, arbiter = CeilingPolicy(), make_teacher(task), FeedbackArbiter()
    steps, t0 = 0, time.perf_counter()
    for e in range(episodes):
        obs, info = env.reset(seed=seed + e)
        policy.reset()
        teacher.reset()
        while True:
            agent = policy.select_action(obs.wrist_rgb, obs.proprio)
            decision = arbiter.decide(agent, teacher.step(obs.objects).action)
            obs, _, term, trunc, info = env.step(decision.executed)
            steps += 1
            if term or trunc:
                break
    wall = time.perf_counter() - t0
    env.close()
    return steps, wall


def through_graph(task: str, episodes: int, seed: int):
    import rclpy

    from iteach_ros.ros import interfaces as io
    from iteach_ros.ros.conversions import stamp_key
    from iteach_ros.ros.launcher import Graph, build_processes
    from ros_monitor import GraphMonitor

    class TimingMonitor(GraphMonitor):
        def __init__(self):
            super().__init__()
            self.obs_at, self.exec_at, self.obs_hop = {}, {}, []
            self.create_subscription(io.OBSERVATION.type, io.OBSERVATION.name, self._t_obs,
                                     io.OBSERVATION.qos)
            self.create_subscription(io.EXECUTED_ACTION.type, io.EXECUTED_ACTION.name,
                                     self._t_exec, io.EXECUTED_ACTION.qos)

        def _t_obs(self, m):
            now = self.get_clock().now().nanoseconds
            self.obs_at[(m.episode, m.step)] = now
            self.obs_hop.append((now - stamp_key(m.header.stamp)) * 1e-6)

        def _t_exec(self, m):
            self.exec_at.setdefault((m.episode, m.step), self.get_clock().now().nanoseconds)

    rclpy.init()
    mon = TimingMonitor()
    specs = build_processes({"task": task, "episodes": str(episodes), "seed": str(seed)},
                            parameters={"learner": {"train": False},
                                        "sim_bridge": {"min_subscribers": 4}})
    graph = Graph(specs, env=dict(os.environ), echo=False).start()
    try:
        while graph.procs["sim_bridge"].poll() is None:
            rclpy.spin_once(mon, timeout_sec=0.05)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            rclpy.spin_once(mon, timeout_sec=0.05)
    finally:
        graph.stop()
        mon.destroy_node()
        rclpy.try_shutdown()
    keys = sorted(mon.exec_at)
    # steady state: from the first executed action to the last (start-up and discovery, the
    # wait before the first action, are not control steps)
    wall = (mon.exec_at[keys[-1]] - mon.exec_at[keys[0]]) * 1e-9
    rtt = [(mon.exec_at[k] - mon.obs_at[k]) * 1e-6 for k in keys if k in mon.obs_at]
    return len(keys) - 1, wall, np.array(mon.obs_hop[1:]), np.array(rtt[1:]), graph.failed()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="reach_target")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    s_in, w_in = in_process(args.task, args.episodes, args.seed)
    s_g, w_g, hop, rtt, failed = through_graph(args.task, args.episodes, args.seed)
    rate_in, rate_g = s_in / w_in, s_g / w_g
    print(f"\ntask {args.task}, {args.episodes} episodes, wrist camera 128x128, no training\n")
    print("| loop | steps | wall (s) | steps/s |")
    print("|---|---|---|---|")
    print(f"| in one process | {s_in} | {w_in:.2f} | {rate_in:.0f} |")
    print(f"| ROS 2 graph, 4 processes | {s_g} | {w_g:.2f} | {rate_g:.0f} |")
    print(f"\ngraph / in-process: {rate_g / rate_in:.0%} (target >= 75 %); "
          f"graph rate target >= 100 steps/s: {'met' if rate_g >= 100 else 'MISSED'}\n")
    print("| latency (ms) | p50 | p90 | p99 | max |")
    print("|---|---|---|---|---|")
    for name, v in (("obs hop (sim_bridge -> subscriber)", hop),
                    ("step round trip (3 hops + inference + CodePolicy)", rtt)):
        p50, p90, p99 = np.percentile(v, [50, 90, 99])
        print(f"| {name} | {p50:.2f} | {p90:.2f} | {p99:.2f} | {v.max():.2f} |")
    print(f"\nper hop, from the round trip: p99 / 3 = {np.percentile(rtt, 99) / 3:.2f} ms "
          f"(upper bound: includes inference and CodePolicy); target p99 hop < 5 ms")
    if failed:
        print(f"nodes failed: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
