"""The paper's comparison as one command: tasks x methods x training seeds, each cell one run of
the protocol, aggregated into a table with 95 % intervals, a learning-curve plot per task and
the feedback shares over training.

    python -m iteach_ros.experiments.table                      # the paper's five tasks, 3 seeds
    python -m iteach_ros.experiments.table --ablations          # + beta / mode / warm start
    python -m iteach_ros.experiments.table --task push_button --seeds 1 --episodes 20

The methods (the rows of a task):

- ``teacher``: the LLM-written CodePolicy alone, open loop (``--teacher``, default ``cache``)
- ``llm_iteach``: LLM-iTeach taught by that CodePolicy
- ``ceiling``: LLM-iTeach taught by the developers' reference program, the stand-in for the
  paper's human teacher (CEILing) that this machine has
- ``bc``: behaviour cloning on the same demonstrations, as many gradient steps as the
  ``llm_iteach`` run of the same seed made

Every method is evaluated on the same held-out seeds, nominal and with a push of the arm
(``sim.perturb.ArmPush``). Cells run in ``--jobs`` processes (one torch thread each) and are
kept: a cell whose ``summary.json`` exists is read, not run again (``--fresh`` reruns). A cell
that cannot run (no generated CodePolicy for a task) is reported as such in the table.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from iteach_ros.experiments.config import ProtocolConfig

PAPER_TASKS = ("push_button", "close_microwave", "take_lid_off_saucepan", "unplug_charger",
               "put_rubbish_in_bin")
METHOD_TITLES = {"teacher": "teacher (LLM-written, open loop)", "llm_iteach": "LLM-iTeach",
                 "ceiling": "LLM-iTeach, reference teacher (CEILing stand-in)", "bc": "BC"}
# The paper's ablations (on push_button and close_microwave): name -> config changes.
ABLATIONS = {"beta0": {"beta_deg": 0.0}, "beta90": {"beta_deg": 90.0},
             "beta180": {"beta_deg": 180.0},
             "corrective_only": {"feedback_mode": "corrective_only"},
             "evaluative_only": {"feedback_mode": "evaluative_only"},
             "no_warm_start": {"warm_start": False}}
ABLATION_TASKS = ("push_button", "close_microwave")
# Student's t, two-sided 95 %, by degrees of freedom (beyond the table: the normal's 1.96).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


@dataclass(frozen=True)
class Cell:
    task: str
    method: str  # a METHOD_TITLES key or an ABLATIONS key
    seed: int

    @property
    def folder(self) -> str:
        return f"{self.task}/{self.method}/seed{self.seed}"


@dataclass
class Outcome:
    cell: Cell
    summary: dict | None = None  # the protocol's summary; None: it could not run
    error: str = ""
    curve: list[tuple[int, float]] = field(default_factory=list)  # (episodes, agent success)
    shares: list[tuple[float, float]] = field(default_factory=list)  # (corrective, evaluative)


def config_of(cell: Cell, base: ProtocolConfig, teacher: str, bc_steps: int | None):
    """The protocol configuration of one cell."""
    cfg = replace(base, task=cell.task, seed=cell.seed, perturbed_eval=True, teacher=teacher)
    if cell.method == "teacher":
        return replace(cfg, method="teacher")
    if cell.method == "bc":
        return replace(cfg, method="bc", bc_steps=bc_steps)
    if cell.method == "ceiling":
        return replace(cfg, method="llm_iteach", teacher="reference")
    if cell.method in ABLATIONS:
        return replace(cfg, method="llm_iteach", **ABLATIONS[cell.method])
    return replace(cfg, method="llm_iteach")


def run_cell(cfg: ProtocolConfig, out_dir: Path) -> dict:
    """One cell in this (worker) process: the protocol, its files, its summary."""
    from iteach_ros.experiments.protocol import run_protocol
    from iteach_ros.experiments.report import write_result

    result = run_protocol(cfg, progress=False, log=lambda *a, **k: None)
    return write_result(result, out_dir)


def read_outcome(cell: Cell, root: Path) -> Outcome:
    """A finished cell from its files: summary, learning curve and feedback shares."""
    import csv

    folder = root / cell.folder
    error = folder / "error.txt"
    if error.exists():
        return Outcome(cell, error=error.read_text().strip())
    summary = json.loads((folder / "summary.json").read_text())
    checks: dict[int, list[float]] = {}
    shares = []
    with open(folder / "episodes.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["phase"] == "progress":
                checks.setdefault(int(row["index"]), []).append(float(row["success"] == "True"))
            elif row["phase"] == "interactive":
                shares.append((float(row["corrective_rate"]), float(row["evaluative_rate"])))
    curve = [(k, float(np.mean(v))) for k, v in sorted(checks.items())]
    return Outcome(cell, summary, curve=curve, shares=shares)


def interval(values: list[float], episodes: int) -> tuple[float, float, float]:
    """(mean, low, high), 95 %: Student's t over the seeds' success rates; with one seed, the
    Wilson interval of its ``episodes`` episodes."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(values))
    if len(values) == 1:
        n, z = max(episodes, 1), 1.96
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return mean, max(0.0, centre - half), min(1.0, centre + half)
    df = len(values) - 1
    t = T975.get(df) or next((T975[k] for k in sorted(T975) if k >= df), 1.96)
    half = t * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def _cell_text(outcomes: list[Outcome], key: str) -> str:
    done = [o for o in outcomes if o.summary is not None]
    if not done:
        return "n/a"
    episodes = int(done[0].summary.get("eval_episodes", 0))
    mean, lo, hi = interval([float(o.summary[key]) for o in done], episodes)
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.0%} [{lo:.0%}, {hi:.0%}]"


def markdown(outcomes: list[Outcome], methods: list[str], wall_s: float, jobs: int) -> str:
    tasks = list(dict.fromkeys(o.cell.task for o in outcomes))
    by = {}
    for o in outcomes:
        by.setdefault((o.cell.task, o.cell.method), []).append(o)
    seeds = sorted({o.cell.seed for o in outcomes})
    lines = []
    for title, key in (("Held-out evaluation (nominal)", "eval_success_rate"),
                       ("Held-out evaluation with a push of the arm (sim.perturb.ArmPush)",
                        "perturbed_success_rate")):
        lines += [f"### {title}", "",
                  "| task | " + " | ".join(METHOD_TITLES.get(m, m) for m in methods) + " |",
                  "|---|" + "---|" * len(methods)]
        for task in tasks:
            cells = [_cell_text(by.get((task, m), []), key) if (task, m) in by else "-"
                     for m in methods]
            lines.append(f"| {task} | " + " | ".join(cells) + " |")
        lines.append("")
    failed: dict[str, list[str]] = {}
    for o in outcomes:
        if o.summary is None:
            reason = o.error.split(";")[0].strip()
            failed.setdefault(reason, []).append(f"{o.cell.task}/{o.cell.method}")
    if failed:
        lines.append("n/a: the cell could not run: " + "; ".join(
            f"{', '.join(sorted(set(where)))}: {reason}" for reason, where in failed.items())
            + ".")
        lines.append("")
    cell_walls = [o.summary["wall_s"] for o in outcomes if o.summary is not None]
    lines.append(f"Success rate over the training seeds {seeds} (mean [95 % interval]: Student's "
                 f"t over the seeds, Wilson over the episodes for one seed; the open-loop "
                 f"teacher is deterministic, so it runs once). "
                 f"{len(cell_walls)} cells, {sum(cell_walls) / 60:.1f} cell-minutes, "
                 f"{wall_s / 60:.1f} minutes of wall time with {jobs} jobs.")
    return "\n".join(lines) + "\n"


def plot_task(task: str, outcomes: list[Outcome], path: Path) -> Path:
    """The agent alone vs interactive episodes for each interactive method (mean over seeds),
    the others' final evaluation as lines, and the corrective / evaluative share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    by: dict[str, list[Outcome]] = {}
    for o in outcomes:
        if o.cell.task == task and o.summary is not None:
            by.setdefault(o.cell.method, []).append(o)
    for k, (method, runs) in enumerate(sorted(by.items())):
        colour = f"C{k}"
        label = METHOD_TITLES.get(method, method)
        curves = [dict(o.curve) for o in runs if o.curve]
        if curves:
            xs = sorted(set.intersection(*(set(c) for c in curves)))
            ax1.plot(xs, [np.mean([c[x] for c in curves]) for x in xs], "o-", color=colour,
                     label=f"{label}, agent alone during training")
            shares = [np.array(o.shares) for o in runs if o.shares]
            n = min(len(s) for s in shares)
            mean = np.mean([s[:n] for s in shares], axis=0)
            x = np.arange(1, n + 1)
            ax2.plot(x, mean[:, 0], "-", color=colour, label=f"{label}: corrective")
            ax2.plot(x, mean[:, 1], "--", color=colour, label=f"{label}: evaluative")
        final = np.mean([o.summary["eval_success_rate"] for o in runs])
        ax1.axhline(final, color=colour, ls=":", lw=1, label=f"{label}, final ({final:.0%})")
    ax1.set_ylabel("success rate")
    ax1.set_ylim(-0.02, 1.02)
    ax1.set_title(f"{task}: mean over training seeds")
    ax2.set_xlabel("interactive episodes")
    ax2.set_ylabel("share of steps")
    ax2.set_ylim(-0.02, 1.02)
    for ax in (ax1, ax2):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small", loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _run_in_worker(cfg: ProtocolConfig, out_dir: str) -> tuple[bool, str]:
    try:
        run_cell(cfg, Path(out_dir))
        return True, ""
    except (FileNotFoundError, RuntimeError, ValueError) as exc:  # e.g. no generated policy
        return False, f"{type(exc).__name__}: {exc}"


def run_table(cells: list[Cell], base: ProtocolConfig, root: Path, *, teacher: str,
              jobs: int, fresh: bool, log=print) -> list[Outcome]:
    """Run (or read) every cell; BC cells wait for their seed's LLM-iTeach step count."""
    pending = list(cells)
    running: dict = {}
    done: dict[Cell, Outcome] = {}

    def finished(cell: Cell) -> bool:
        folder = root / cell.folder
        return not fresh and ((folder / "summary.json").exists() or (folder / "error.txt").exists())

    for cell in list(pending):
        if finished(cell):
            done[cell] = read_outcome(cell, root)
            pending.remove(cell)
    if done:
        log(f"[table] {len(done)} cells already in {root}, {len(pending)} to run")
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx,
                             initializer=_worker_init) as pool:
        while pending or running:
            for cell in list(pending):
                if len(running) >= jobs:
                    break
                bc_steps = None
                if cell.method == "bc":
                    partner = Cell(cell.task, "llm_iteach", cell.seed)
                    if partner in pending or partner in running.values():
                        continue  # its step count is not known yet
                    if partner in done and done[partner].summary is not None:
                        bc_steps = int(done[partner].summary["train_steps"])
                cfg = config_of(cell, base, teacher, bc_steps)
                folder = root / cell.folder
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "error.txt").unlink(missing_ok=True)
                running[pool.submit(_run_in_worker, cfg, str(folder))] = cell
                pending.remove(cell)
                log(f"[table] start {cell.folder}", flush=True)
            finished_now, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished_now:
                cell = running.pop(future)
                ok, error = future.result()
                if not ok:
                    (root / cell.folder / "error.txt").write_text(error + "\n")
                done[cell] = read_outcome(cell, root)
                what = (f"eval {done[cell].summary['eval_success_rate']:.0%}, pushed "
                        f"{done[cell].summary['perturbed_success_rate']:.0%}, "
                        f"{done[cell].summary['wall_s']:.0f} s" if ok else error)
                log(f"[table] done {cell.folder}: {what} ({len(done)}/{len(cells)}, load "
                    f"{os.getloadavg()[0]:.1f})", flush=True)
    return [done[c] for c in cells]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m iteach_ros.experiments.table",
                                description=__doc__.split("\n")[0])
    p.add_argument("--task", action="append", help=f"repeatable; default {PAPER_TASKS}")
    p.add_argument("--methods", default="teacher,llm_iteach,ceiling,bc",
                   help="comma-separated subset of " + ",".join(METHOD_TITLES))
    p.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1 (default 3)")
    p.add_argument("--ablations", action="store_true",
                   help=f"add {', '.join(ABLATIONS)} on {', '.join(ABLATION_TASKS)}")
    p.add_argument("--teacher", default="cache",
                   help="the LLM-written CodePolicy: cache (default) or a .py file")
    p.add_argument("--jobs", type=int, default=2, help="cells at once (default 2)")
    p.add_argument("--out", type=Path, default=Path("results/paper_table"))
    p.add_argument("--fresh", action="store_true", help="rerun cells that have results")
    for name in ("demos", "episodes", "eval_episodes", "warm_steps", "max_steps",
                 "image_size"):
        default = getattr(ProtocolConfig, name)
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=default,
                       help=f"protocol's {name} (default {default})")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHOD_TITLES]
    if unknown or args.seeds < 1 or args.jobs < 1:
        print(f"unknown methods {unknown} (choose from {list(METHOD_TITLES)}), or --seeds / "
              f"--jobs below 1", file=sys.stderr)
        return 2
    tasks = args.task or list(PAPER_TASKS)
    base = ProtocolConfig(demos=args.demos, episodes=args.episodes,
                          eval_episodes=args.eval_episodes, warm_steps=args.warm_steps,
                          max_steps=args.max_steps, image_size=args.image_size,
                          progress_episodes=10 if args.episodes >= 20 else 0)
    # the open-loop teacher does not depend on the training seed: once is enough
    cells = [Cell(t, m, s) for t in tasks for m in methods
             for s in (range(1) if m == "teacher" else range(args.seeds))]
    if args.ablations:
        cells += [Cell(t, a, s) for t in tasks if t in ABLATION_TASKS for a in ABLATIONS
                  for s in range(args.seeds)]
    start = time.perf_counter()
    load = os.getloadavg()[0]
    outcomes = run_table(cells, base, args.out, teacher=args.teacher, jobs=args.jobs,
                         fresh=args.fresh)
    wall = time.perf_counter() - start
    columns = methods + ([a for a in ABLATIONS] if args.ablations else [])
    text = markdown(outcomes, columns, wall, args.jobs)
    for task in tasks:
        plot_task(task, outcomes, args.out / f"{task}.png")
    command = "python -m iteach_ros.experiments.table " + " ".join(argv or sys.argv[1:])
    header = (f"# LLM-iTeach vs BC vs the reference teacher\n\nMade by `{command.strip()}` "
              f"({os.cpu_count()} CPUs, load average {load:.1f} at the start and "
              f"{os.getloadavg()[0]:.1f} at the end). Per task: `<task>.png` (learning curves, "
              f"feedback shares); per cell: `<task>/<method>/seed<k>/`.\n\n")
    (args.out / "table.md").write_text(header + text)
    print(text)
    print(f"[table] {args.out / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
