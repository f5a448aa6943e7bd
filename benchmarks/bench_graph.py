"""Control steps per second through the ROS 2 graph (four processes over DDS on loopback) next to
the same loop in one process, and hop latencies, measured side by side in one run.

    .venv/bin/python benchmarks/bench_graph.py [--task reach_target] [--episodes 20] [--rounds 3]
        [--md results/bench_graph.md]

In-process loop: env.step (with the 128x128 wrist camera) + policy inference + CodePolicy +
arbiter, no training. Graph: sim_bridge, teacher, arbiter and learner (train=false, so the two
loops do the same work) as separate processes. Both start from the same policy weights (torch
seed 0, as the learner's ``seed`` parameter) and the same episode seeds, so they run the same
episodes step for step.

Rounds alternate the two loops (this machine's load drifts; the ratio is taken per round and the
median reported). In throughput rounds a monitor node records when each executed action arrives
(small messages only: every subscriber is load on the same cores). A final latency round also
subscribes to the observations:
- obs hop: observation receive time - its publish stamp (sim_bridge -> a subscriber);
- step round trip: executed action receive time - observation receive time at the monitor
  (obs -> learner and teacher, actions -> arbiter, executed -> out: three hops + compute).
Per-process CPU time per control step comes from /proc over the throughput rounds.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
from md_report import write_markdown

ROOT = Path(__file__).resolve().parents[1]
LEARNER_SEED = 0  # the learner's `seed` parameter (config/iteach.yaml)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))


def in_process(task: str, episodes: int, seed: int, gaps_s: tuple[float, float] = (0.0, 0.0),
               phases: dict | None = None, wait: str = "sleep") -> tuple[int, float]:
    """The loop in one process (the step core's ``run_episode``, as the runner runs it):
    (steps, wall seconds). ``gaps_s`` (before inference, before env.step) wait where the
    graph's learner and simulator wait for each other (``wait``: "sleep" or "busy" polling);
    the waits are not in the wall time. ``phases`` collects per-step seconds of "env.step" and
    "inference"."""
    import torch

    from iteach_ros.interaction.lockstep import AgentStream, TeacherStream
    from iteach_ros.interaction.loop import run_episode
    from iteach_ros.learning.arbiter import FeedbackArbiter
    from iteach_ros.learning.policy import CeilingPolicy
    from iteach_ros.sim import make_env
    from iteach_ros.teacher.service import make_teacher

    torch.set_num_threads(1)  # as the runner and the graph's learner do
    torch.manual_seed(LEARNER_SEED)  # the learner node's initial weights
    env = make_env(task)
    policy, arbiter = CeilingPolicy(), FeedbackArbiter()
    teacher = TeacherStream(make_teacher(task))
    phases = {} if phases is None else phases
    step_s, inference_s = phases.setdefault("env.step", []), phases.setdefault("inference", [])
    slept, clock = [0.0], time.perf_counter

    def timed(call, gap, into):
        def run(*args):
            if gap:
                slept[0] += _wait(gap, wait)
            t = clock()
            out = call(*args)
            into.append(clock() - t)
            return out
        return run

    agent = AgentStream(timed(policy.act, gaps_s[0], inference_s))
    env_step = env.step
    env.step = timed(env_step, gaps_s[1], step_s)
    t0 = clock()
    steps = sum(run_episode(env, seed + e, episode=e + 1, agent=agent, teacher=teacher,
                            arbiter=arbiter).steps for e in range(episodes))
    wall = clock() - t0 - slept[0]
    env.step = env_step
    env.close()
    return steps, wall


def _wait(seconds: float, how: str) -> float:
    t = time.perf_counter()
    if how == "sleep":
        time.sleep(seconds)
    else:
        while time.perf_counter() - t < seconds:
            pass
    return time.perf_counter() - t


def through_graph(task: str, episodes: int, seed: int, watch_observations: bool,
                  executor_kind: str = ""):
    import rclpy
    from rclpy.node import Node

    from iteach_ros.ros import interfaces as topics
    from iteach_ros.ros.conversions import stamp_key
    from iteach_ros.ros.launcher import Graph, build_processes
    from iteach_ros.ros.node_support import make_executor

    class TimingMonitor(Node):
        """Only what the timing needs (every subscription here is load on the same 2 cores)."""

        def __init__(self):
            super().__init__("bench_monitor")
            self.obs_at, self.exec_at, self.obs_hop = {}, {}, []
            if watch_observations:
                topics.OBSERVATION.subscription(self, self._t_obs)
            topics.EXECUTED_ACTION.subscription(self, self._t_exec)

        def _t_obs(self, m):
            now = self.get_clock().now().nanoseconds
            self.obs_at[(m.episode, m.step)] = now
            self.obs_hop.append((now - stamp_key(m.header.stamp)) * 1e-6)

        def _t_exec(self, m):
            self.exec_at.setdefault((m.episode, m.step), self.get_clock().now().nanoseconds)

    rclpy.init()
    mon = TimingMonitor()
    executor = make_executor(mon)  # the nodes' executor (rclpy.spin_once re-adds the node)
    subscribers = 3 if watch_observations else 2  # teacher, learner (+ this monitor)
    specs = build_processes({"task": task, "episodes": str(episodes), "seed": str(seed),
                             "executor": executor_kind},
                            parameters={"learner": {"train": False, "seed": LEARNER_SEED},
                                        "sim_bridge": {"min_subscribers": subscribers}})
    graph = Graph(specs, env=dict(os.environ), echo=False).start()
    samples = []  # (executed actions so far, {process: CPU seconds}) every ~0.1 s
    try:
        next_sample = 0.0
        while graph.procs["sim_bridge"].poll() is None:
            executor.spin_once(timeout_sec=0.05)
            if time.monotonic() >= next_sample:
                next_sample = time.monotonic() + 0.1
                cpu = {n: _cpu_seconds(p.pid) for n, p in graph.procs.items()}
                cpu["monitor (this process)"] = time.process_time()
                if None not in cpu.values():
                    samples.append((len(mon.exec_at), cpu))
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
    finally:
        graph.stop()
        mon.destroy_node()
        rclpy.try_shutdown()
    keys = sorted(mon.exec_at)
    # steady state: from the first executed action to the last (start-up and discovery, the
    # wait before the first action, are not control steps)
    wall = (mon.exec_at[keys[-1]] - mon.exec_at[keys[0]]) * 1e-9
    rtt = [(mon.exec_at[k] - mon.obs_at[k]) * 1e-6 for k in keys if k in mon.obs_at]
    return (len(keys) - 1, wall, np.array(mon.obs_hop[1:]), np.array(rtt[1:]), graph.failed(),
            _cpu_per_step(samples))


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (Linux /proc), None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_per_step(samples) -> dict[str, float]:
    """CPU milliseconds per control step of each process, over the sampled steady state."""
    running = [s for s in samples if s[0] > 0]
    if len(running) < 2 or running[-1][0] == running[0][0]:
        return {}
    (n0, c0), (n1, c1) = running[0], running[-1]
    return {name: (c1[name] - c0[name]) * 1e3 / (n1 - n0) for name in c0}


def _percentiles(v: np.ndarray) -> str:
    p50, p90, p99 = np.percentile(v, [50, 90, 99])
    return f"{p50:.2f} | {p90:.2f} | {p99:.2f} | {v.max():.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="reach_target")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="throughput rounds (in-process, graph)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--executor", default="", help="the nodes' executor (default: the YAML's)")
    ap.add_argument("--md", help="also write the tables as Markdown here")
    args = ap.parse_args(argv)
    out = [f"task {args.task}, {args.episodes} episodes per loop, wrist camera 128x128, no "
           f"training; executor {args.executor or 'from the YAML'}, Fast DDS publication mode "
           f"{os.environ.get('RMW_FASTRTPS_PUBLICATION_MODE', 'the nodes default')}; "
           f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f} at start", "",
           "| round | in one process: steps, steps/s | ROS 2 graph, 4 processes: steps, steps/s "
           "| graph / in-process |", "|---|---|---|---|"]
    ratios, graph_rates, cpus, failures = [], [], [], {}
    for r in range(1, args.rounds + 1):
        s_in, w_in = in_process(args.task, args.episodes, args.seed)
        s_g, w_g, _, _, failed, cpu = through_graph(args.task, args.episodes, args.seed, False,
                                                    args.executor)
        rate_in, rate_g = s_in / w_in, s_g / w_g
        ratios.append(rate_g / rate_in)
        graph_rates.append(rate_g)
        cpus.append(cpu)
        failures.update(failed)
        out.append(f"| {r} | {s_in}, {rate_in:.0f} | {s_g}, {rate_g:.0f} | "
                   f"{rate_g / rate_in:.0%} |")
        print(out[-1], flush=True)
    ratio, rate = float(np.median(ratios)), float(np.median(graph_rates))
    out += ["", f"median graph / in-process: {ratio:.0%} (per-step rate only: what users wait "
            f"for is a trained policy, `bench_transport.py`); median graph rate {rate:.0f} "
            f"steps/s (target >= 100: {'met' if rate >= 100 else 'MISSED'})"]
    _, _, hop, rtt, failed, _ = through_graph(args.task, args.episodes, args.seed, True,
                                              args.executor)
    failures.update(failed)
    out += ["", "latency round (the monitor also subscribes to the observations):", "",
            "| latency (ms) | p50 | p90 | p99 | max |", "|---|---|---|---|---|",
            f"| obs hop (sim_bridge -> subscriber) | {_percentiles(hop)} |",
            f"| step round trip (3 hops + inference + CodePolicy) | {_percentiles(rtt)} |",
            "", f"obs hop p99 {np.percentile(hop, 99):.2f} ms (target < 5 ms: "
            f"{'met' if np.percentile(hop, 99) < 5 else 'MISSED'})"]
    cpus = [c for c in cpus if c]
    if cpus:
        out += ["", "| process | CPU ms per control step (mean of the throughput rounds) |",
                "|---|---|"]
        for name in cpus[0]:
            out.append(f"| {name} | {np.mean([c[name] for c in cpus]):.2f} |")
        total = np.mean([sum(c.values()) for c in cpus])
        out.append(f"| all | {total:.2f} (2 cores give {2e3 / rate:.2f} per step at the median "
                   "rate) |")
    print("\n" + "\n".join(out))
    if args.md:
        write_markdown(args.md, "bench_graph.py", argv or sys.argv[1:], out)
    if failures:
        print(f"nodes failed: {failures}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
