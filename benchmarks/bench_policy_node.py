"""The deployed policy's per-step latency and the evaluation's pace through the robot contract
(sim_bridge's robot interface + the policy node: standard messages only) next to the project's
own messages (sim_bridge + learner + teacher + arbiter), with the same checkpoint on the same
seeds, measured side by side in one run.

    .venv/bin/python benchmarks/bench_policy_node.py [--task push_button] [--episodes 5]
        [--checkpoint learner.pt] [--rounds 2] [--md results/bench_policy_node.md]

Without ``--checkpoint`` an untrained 128 px policy (torch seed 0) acts: the latency does not
depend on the weights. Latency: the policy node's own figure (input pair arrived -> commands
published), from its shutdown summary; steps/s: control steps over the episodes' wall time
(start-up excluded). Rounds alternate the two paths; the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
from pathlib import Path

from md_report import write_markdown

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
SEED = 700_000
SUMMARY = re.compile(r"(\d+) steps; latency p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms;"
                     r" (\d+) over the control period")


def run(specs, episodes: int):
    """(rows, episodes' wall seconds, the graph's output lines)."""
    import time

    from iteach_ros.ros.episode_log import EpisodeLog
    from iteach_ros.ros.launcher import Graph

    graph = Graph(specs, env=dict(os.environ), echo=False)
    log = EpisodeLog([""])
    graph.start()
    try:
        reason = graph.run(300.0 + 120.0 * episodes, log=lambda *_: None)
    finally:
        end = time.monotonic()
        heard = dict(log.heard)
        rows = log.close()
    if reason != "done" or len(rows) < episodes:
        raise RuntimeError(f"{reason}: {len(rows)} of {episodes} episodes\n"
                           + "\n".join(graph.tail(s.name, 15) for s in specs))
    return rows, heard.get("last_end", end) - heard["first_episode"], graph.lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="push_button")
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--checkpoint", default="")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--md", default="")
    args = ap.parse_args(argv)

    from iteach_ros.experiments.config import ProtocolConfig
    from iteach_ros.experiments.graph_transport import phase_processes
    from iteach_ros.learning.store import CHECKPOINT
    from iteach_ros.ros.launcher import build_robot_processes

    work = Path(tempfile.mkdtemp(prefix="bench_policy_"))
    learner_dir = work / "learner"
    if args.checkpoint:
        import shutil

        learner_dir.mkdir()
        shutil.copy(args.checkpoint, learner_dir / CHECKPOINT)
    else:
        import torch

        from iteach_ros.learning.buffer import ReplayBuffer
        from iteach_ros.learning.policy import CeilingPolicy
        from iteach_ros.learning.trainer import Trainer, TrainerConfig

        torch.manual_seed(0)
        Trainer(CeilingPolicy(), ReplayBuffer(), TrainerConfig()).save_checkpoint(
            learner_dir / CHECKPOINT)
    ckpt = learner_dir / CHECKPOINT
    import torch

    size = torch.load(ckpt, weights_only=False)["policy"]["config"]["image_size"]
    cfg = ProtocolConfig(task=args.task, image_size=size)
    results = {"project messages": [], "robot contract": []}
    latencies = []
    for r in range(args.rounds):
        rows, wall, _ = run(phase_processes(cfg, learner_dir, seed=SEED,
                                            episodes=args.episodes, interactive=False),
                            args.episodes)
        results["project messages"].append((sum(x["steps"] for x in rows), wall, rows))
        rows, wall, lines = run(build_robot_processes({
            "sim_bridge": {"task": args.task, "episodes": args.episodes, "seed": SEED,
                           "evaluation": True, "image_size": size},
            "policy": {"checkpoint": str(ckpt)}}), args.episodes)
        results["robot contract"].append((sum(x["steps"] for x in rows), wall, rows))
        found = [SUMMARY.search(line) for line in lines.get("policy", [])]
        latencies += [m.groups() for m in found if m]
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    load = os.getloadavg()
    out = [f"Task {args.task}, {args.episodes} evaluation episodes from seed {SEED} per path and "
           f"round, {args.rounds} rounds alternating, {size} px camera; load average "
           f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) at the end.", "",
           "| path | steps | steps/s (per round) | successes |", "|---|---|---|---|"]
    rates = {}
    for name, runs in results.items():
        per = [s / w for s, w, _ in runs]
        rates[name] = sorted(per)[len(per) // 2]
        ok = [sum(x["success"] for x in rows) for *_, rows in runs]
        out.append(f"| {name} | {runs[0][0]} | {' / '.join(f'{p:.0f}' for p in per)} | "
                   f"{' / '.join(map(str, ok))} of {args.episodes} |")
    out += ["", f"Robot contract / project messages, median steps/s: "
            f"{rates['robot contract'] / rates['project messages']:.2f}", "",
            "| round | policy steps | latency p50 ms | p99 ms | max ms | over 50 ms |",
            "|---|---|---|---|---|---|"]
    out += [f"| {i + 1} | {g[0]} | {g[1]} | {g[2]} | {g[3]} | {g[4]} |"
            for i, g in enumerate(latencies)]
    print("\n".join(out))
    if args.md:
        write_markdown(args.md, "bench_policy_node.py", argv or sys.argv[1:], out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
