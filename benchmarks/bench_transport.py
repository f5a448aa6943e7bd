"""The paper's protocol both ways in one run: LLM-iTeach in one process and through the ROS 2
graph (four node processes over DDS), the same seeds, budgets and teacher; evaluation success
and wall time side by side, and where the graph's extra time goes.

    .venv/bin/python benchmarks/bench_transport.py [--tasks push_button,close_microwave]
        [--teacher cache] [--episodes 100] [--eval-episodes 100] [--md results/bench_transport.md]

Per task the two transports run back to back, the order alternating between tasks (this
machine's load drifts). Both train at the runner's pace (warm start, then >= steps_per_episode
gradient steps per episode, training concurrent with collection), so training dominates both;
the graph's parts are start-up (node processes importing torch, MuJoCo, rclpy; DDS discovery),
the first episode's wait (the learner's warm start), the episodes, and stopping the nodes.
No learning-curve episodes (--progress-episodes 0) in either.
Targets (issue 11): graph evaluation success within 5 points of in-process; wall time <= 1.3x.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from md_report import write_markdown

ROOT = Path(__file__).resolve().parents[1]


def run(task: str, transport: str, args, workdir: Path) -> dict:
    from iteach_ros.experiments.config import ProtocolConfig
    from iteach_ros.experiments.protocol import run_protocol

    teacher = args.teacher
    if teacher == "cache":
        from iteach_ros.teacher.service import find_cached_policy

        teacher = "cache" if find_cached_policy(task) else "reference"
    cfg = ProtocolConfig(task=task, method="llm_iteach", episodes=args.episodes,
                         eval_episodes=args.eval_episodes, progress_episodes=0,
                         teacher=teacher, seed=args.seed, transport=transport)
    load = os.getloadavg()[0]
    result = run_protocol(cfg, progress=False, workdir=workdir / f"{task}_{transport}")
    summary = result.summary()
    summary.update(teacher=teacher, load_start=load, load_end=os.getloadavg()[0])
    print(f"{task} {transport}: {summary['eval_success_rate']:.0%} in {summary['wall_s']:.0f} s "
          f"({summary['phase_wall_s']}; graph {summary['graph_timing_s']}); "
          f"{summary['train_steps']} gradient steps", flush=True)
    return summary


def main(argv=None) -> int:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="push_button,close_microwave")
    ap.add_argument("--teacher", default="cache",
                    help="cache (the generated CodePolicy where one exists, else the reference "
                         "program) | reference | a .py file")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--eval-episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--md", help="also write the tables as Markdown here")
    args = ap.parse_args(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    out = [f"{args.episodes} interactive + {args.eval_episodes} held-out evaluation episodes per "
           f"run, seed {args.seed}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
           f"at start", "",
           "| task | teacher | in one process: success, wall s | ROS 2 graph: success, wall s | "
           "success difference (points) | wall graph / in-process | load avg (start-end) |",
           "|---|---|---|---|---|---|---|"]
    parts = ["", "| task | phase | in one process (s) | graph (s) |", "|---|---|---|---|"]
    detail = ["", "| task | graph phase | start-up | first episode wait (warm start) | "
              "episodes | stopping |", "|---|---|---|---|---|---|"]
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="bench_transport_") as tmp:
        for k, task in enumerate(t.strip() for t in args.tasks.split(",") if t.strip()):
            order = ("inprocess", "graph") if k % 2 == 0 else ("graph", "inprocess")
            res = {transport: run(task, transport, args, Path(tmp)) for transport in order}
            a, g = res["inprocess"], res["graph"]
            diff = 100 * (g["eval_success_rate"] - a["eval_success_rate"])
            ratio = g["wall_s"] / a["wall_s"]
            verdicts.append(abs(diff) <= 5 and ratio <= 1.3)
            loads = "; ".join(f"{t} {res[t]['load_start']:.1f}-{res[t]['load_end']:.1f}"
                              for t in order)
            out.append(f"| {task} | {a['teacher']} | {a['eval_success_rate']:.0%}, "
                       f"{a['wall_s']:.0f} | {g['eval_success_rate']:.0%}, {g['wall_s']:.0f} | "
                       f"{diff:+.0f} | {ratio:.2f}x | {loads} |")
            for phase in dict.fromkeys([*a["phase_wall_s"], *g["phase_wall_s"]]):
                parts.append(f"| {task} | {phase} | {a['phase_wall_s'].get(phase, 0):.0f} | "
                             f"{g['phase_wall_s'].get(phase, 0):.0f} |")
            for phase, t in g["graph_timing_s"].items():
                detail.append(f"| {task} | {phase} | {t.get('startup_s', 0):.1f} | "
                              f"{t.get('first_episode_wait_s', 0):.1f} | "
                              f"{t.get('episodes_s', 0):.1f} | {t.get('stop_s', 0):.1f} |")
    out += parts + detail
    out += ["", f"targets (success within 5 points, wall <= 1.3x): "
            f"{'met' if all(verdicts) else 'MISSED'} on {sum(verdicts)} of {len(verdicts)} "
            f"tasks"]
    print("\n" + "\n".join(out))
    if args.md:
        write_markdown(args.md, "bench_transport.py", argv or sys.argv[1:], out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
