"""Experiment runner CLI: the paper's protocol for one or more methods on one or more tasks.

    python -m iteach_ros.experiments.run --task push_button --methods teacher,bc,llm_iteach
    python -m iteach_ros.experiments.run --task push_button --methods llm_iteach --transport graph

Each (task, method) writes episodes.csv, summary.json, config.json and plots into
``<out>/<timestamp>/<task>/<method>/``; a combined summary.md / summary.json sits at the top.
With ``--bc-steps match`` (default) BC trains for as many gradient steps as the LLM-iTeach run
of the same task did, on the same demonstrations, so the comparison is step for step.
``--transport graph`` runs the learners' interactive and evaluation phases through the ROS 2
nodes (separate processes over DDS) with the same seeds and budgets; their learner folders (and
the bag, with ``--record``) are in ``<task>/<method>/graph/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

from iteach_ros.core import ACTION_DIMS, SANDBOXES
from iteach_ros.experiments.config import METHODS, ProtocolConfig
from iteach_ros.experiments.protocol import run_protocol
from iteach_ros.experiments.report import markdown_table, write_result


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m iteach_ros.experiments.run",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--task", action="append", help="task name (repeatable); default push_button")
    p.add_argument("--methods", default="teacher,bc,llm_iteach",
                   help=f"comma-separated subset of {','.join(METHODS)}")
    p.add_argument("--out", default="runs", help="output folder")
    p.add_argument("--run-name", default="", help="subfolder of --out (default: a timestamp)")
    p.add_argument("--bc-steps", default="match",
                   help="BC gradient steps, or 'match' to use the LLM-iTeach run's total")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    skip = {"task", "method", "bc_steps"}
    for f in fields(ProtocolConfig):
        if f.name in skip:
            continue
        kind = {bool: _bool, int: int, float: float}.get(type(f.default), str)
        if f.name == "max_steps":
            kind = int
        extra = {}
        if f.name == "sandbox":
            extra = {"choices": SANDBOXES, "help": "where a cache or file teacher runs: worker "
                     "(a sandbox process, default) | in_process (the in-process guards alone)"}
        if f.name == "action_mode":
            extra = {"choices": sorted(ACTION_DIMS), "help": "4d: translation + gripper "
                     "(the paper's, default) | 7d: + roll, pitch, yaw (the teacher holds the "
                     "orientation)"}
        p.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default,
                       **{"help": f"default {f.default}", **extra})
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        print(f"unknown method(s) {bad}; choose from {METHODS}", file=sys.stderr)
        return 2
    # LLM-iTeach before BC, so BC can match its gradient steps.
    methods.sort(key=lambda m: {"teacher": 0, "llm_iteach": 1, "bc": 2}[m])
    tasks = args.task or ["push_button"]
    base = {f.name: getattr(args, f.name) for f in fields(ProtocolConfig)
            if f.name not in ("task", "method", "bc_steps")}
    root = Path(args.out) / (args.run_name or time.strftime("%Y%m%d-%H%M%S"))
    summaries = []
    for task in tasks:
        iteach_steps = None
        for method in methods:
            bc_steps = None
            if method == "bc":
                if args.bc_steps == "match":
                    bc_steps = iteach_steps
                else:
                    bc_steps = int(args.bc_steps)
            cfg = replace(ProtocolConfig(task=task, method=method, **base), bc_steps=bc_steps)
            print(f"[run] {task} / {method} ...", flush=True)
            out_dir = root / task / method
            result = run_protocol(cfg, progress=not args.quiet, workdir=out_dir / "graph")
            if method == "llm_iteach":
                iteach_steps = result.train_steps
            summary = write_result(result, out_dir)
            if result.trainer is not None:  # e.g. a warm start for the ROS graph's learner
                result.trainer.save_checkpoint(out_dir / "policy.pt")
            summaries.append(summary)
            phases = ", ".join(f"{k} {v:.0f} s" for k, v in summary["phase_wall_s"].items())
            print(f"[run] {task} / {method}: eval success {summary['eval_success_rate']:.0%} "
                  f"over {summary['eval_episodes']} held-out episodes; "
                  f"wall time {summary['wall_s']:.0f} s ({phases})", flush=True)
    table = markdown_table(summaries)
    root.mkdir(parents=True, exist_ok=True)
    (root / "summary.md").write_text(table + "\n")
    (root / "summary.json").write_text(json.dumps(summaries, indent=2) + "\n")
    print(table)
    print(f"[run] results in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
