"""How fast a lock-step graph could be on this machine at best: the two costs of splitting the
loop into processes that no node code can remove, measured side by side with the loop itself.

    .venv/bin/python benchmarks/bench_lockstep_floor.py [--task reach_target] [--episodes 20]
        [--rounds 2] [--md results/bench_lockstep_floor.md]

1. Messaging floor: the round trip of the lock-step's three hops (observation with the 128x128
   wrist image -> agent action -> executed action -> back to the simulator) between three
   minimal rclpy processes that only forward messages: the project's message types, topic QoS,
   executor and Fast DDS settings, and no simulator, policy, teacher or arbiter.
2. Older caches: in the graph each process's data sit untouched for one whole graph period
   between uses (the learner's from one inference to the next), longer than in one process by
   the time the messages take. The in-process loop is rerun with one wait of the floor's length
   per step (before inference), so that each phase's data are as old as in a graph with no node
   overhead, and its phases timed. ``--wait busy`` polls instead of sleeping, to tell an idle
   core's cost from the time the wait takes.

Upper bound for the graph with zero node overhead: the period of the loop with the waits (the
sleeps themselves not counted) plus the floor, against the period of the loop without them.
Message building, the teacher's and arbiter's processes and their messages are not in it, so
the real graph can only be slower than this bound.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("RMW_FASTRTPS_PUBLICATION_MODE", "SYNCHRONOUS")  # as run_node sets it

from bench_graph import in_process  # noqa: E402
from md_report import write_markdown  # noqa: E402

# The ring: simulator -> learner -> arbiter -> simulator, on private topic names.
RING = ("floor_sim", "floor_learner", "floor_arbiter")


def _ring_topics(topics):
    """(input, output) topic spec of each role, with the project's types and QoS."""
    from dataclasses import replace

    obs = replace(topics.OBSERVATION, name="floor/observation")
    agent = replace(topics.AGENT_ACTION, name="floor/agent_action")
    executed = replace(topics.EXECUTED_ACTION, name="floor/executed_action")
    return {"floor_sim": (executed, obs), "floor_learner": (obs, agent),
            "floor_arbiter": (agent, executed)}


def ring_node(role: str, task: str, round_trips: int) -> int:
    """One ring process. The forwarders answer each message with an Action; the simulator
    publishes a real observation message and prints the round-trip times."""
    import rclpy
    from rclpy.node import Node

    from iteach_ros.msg import Action
    from iteach_ros.ros import interfaces as topics
    from iteach_ros.ros.conversions import action_msg, observation_to_msg
    from iteach_ros.ros.node_support import make_executor

    rclpy.init()
    node = Node(role)
    topic_in, topic_out = _ring_topics(topics)[role]
    pub = topic_out.publisher(node)
    answer = action_msg([0.1, 0.2, 0.3, 1.0], answering=Action(episode=1, step=0),
                        source=Action.SOURCE_AGENT)
    arrived = []
    topic_in.subscription(node, (lambda m: arrived.append(time.perf_counter())) if role == RING[0]
                          else (lambda m: pub.publish(answer)))
    executor = make_executor(node)
    if role != RING[0]:
        from rclpy.executors import ExternalShutdownException

        try:  # until the benchmark terminates this forwarder
            while rclpy.ok():
                executor.spin_once(timeout_sec=0.1)
        except ExternalShutdownException:
            pass
        return 0
    from builtin_interfaces.msg import Time

    from iteach_ros.sim import make_env

    env = make_env(task)
    obs, _ = env.reset(seed=0)
    message = observation_to_msg(obs, stamp=Time(), episode=1, task=task, seed=0)
    env.close()
    deadline = time.monotonic() + 30.0
    while pub.get_subscription_count() < 1 or node.count_publishers(topic_in.name) < 1:
        executor.spin_once(timeout_sec=0.05)
        if time.monotonic() > deadline:
            print("ring: peers never appeared", file=sys.stderr)
            return 1
    times = []
    for _ in range(round_trips):
        arrived.clear()
        t = time.perf_counter()
        pub.publish(message)
        while not arrived:
            executor.spin_once(timeout_sec=1.0)
        times.append(arrived[0] - t)
    print(" ".join(f"{x:.7f}" for x in times[len(times) // 10:]))  # the first tenth: warm-up
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def ring_round_trips(task: str, round_trips: int) -> np.ndarray:
    """Round-trip seconds through the three-process ring."""
    me = [sys.executable, str(Path(__file__).resolve()), "--ring-node"]
    forwarders = [subprocess.Popen([*me, role, task, "0"]) for role in RING[1:]]
    try:
        out = subprocess.run([*me, RING[0], task, str(round_trips)], capture_output=True,
                             text=True, timeout=120, check=True).stdout
    finally:
        for p in forwarders:
            p.terminate()
            p.wait(timeout=10)
    return np.array([float(x) for x in out.split()])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--ring-node":
        return ring_node(argv[1], argv[2], int(argv[3]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="reach_target")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--round-trips", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wait", choices=("sleep", "busy"), default="sleep",
                    help="how the loop waits: sleep as the nodes do, or busy polling")
    ap.add_argument("--md", help="also write the tables as Markdown here")
    args = ap.parse_args(argv)
    med = lambda v: float(np.median(v)) * 1e3  # noqa: E731 - seconds -> median ms
    out = [f"task {args.task}, {args.episodes} episodes per loop, wrist camera 128x128, no "
           f"training; waits: {args.wait}; {os.cpu_count()} CPUs, load avg "
           f"{os.getloadavg()[0]:.1f} at start", "",
           "| round | ring floor p50 / p90 (ms) | in one process: env.step, inference (medians), "
           "period (ms) | with a floor-long wait per step: env.step, inference, period (ms) | "
           "best graph period (ms) | best graph / in-process |", "|---|---|---|---|---|---|"]
    bounds = []
    for r in range(1, args.rounds + 1):
        floor = ring_round_trips(args.task, args.round_trips)
        plain: dict = {}
        steps, wall = in_process(args.task, args.episodes, args.seed, phases=plain)
        period = wall / steps * 1e3
        f = med(floor)
        gaps = (f * 1e-3, 0.0)
        waited: dict = {}
        steps_w, wall_w = in_process(args.task, args.episodes, args.seed, gaps_s=gaps,
                                     phases=waited, wait=args.wait)
        best = wall_w / steps_w * 1e3 + f
        bounds.append(period / best)
        out.append(f"| {r} | {f:.2f} / {np.percentile(floor, 90) * 1e3:.2f} | "
                   f"{med(plain['env.step']):.2f}, {med(plain['inference']):.2f}, {period:.2f} | "
                   f"{med(waited['env.step']):.2f}, {med(waited['inference']):.2f}, "
                   f"{wall_w / steps_w * 1e3:.2f} | "
                   f"{best:.2f} | {period / best:.0%} |")
        print(out[-1], flush=True)
    out += ["", f"median upper bound for graph / in-process: {np.median(bounds):.0%} (the "
            "graph's own message building, teacher and arbiter come on top)"]
    print("\n" + "\n".join(out))
    if args.md:
        write_markdown(args.md, "bench_lockstep_floor.py", argv, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
