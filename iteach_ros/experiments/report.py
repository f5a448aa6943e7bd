"""Writing experiment results: per-episode CSV, summary JSON, PNG plots, a markdown table."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from iteach_ros.experiments.records import EpisodeRecord, ProtocolResult


def write_episodes_csv(records: list[EpisodeRecord], path: Path) -> Path:
    names = [f.name for f in fields(EpisodeRecord)]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for r in records:
            row = asdict(r)
            row["wall_s"] = round(row["wall_s"], 4)
            writer.writerow(row)
    return path


def write_result(result: ProtocolResult, out_dir: Path) -> dict:
    """episodes.csv, summary.json, config.json and (for learners) plots into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_episodes_csv(result.records, out_dir / "episodes.csv")
    summary = result.summary()
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out_dir / "config.json").write_text(json.dumps(result.config, indent=2) + "\n")
    if any(r.phase == "interactive" for r in result.records):
        plot_training(result.records, out_dir / "training.png",
                      title=f"{summary['task']}: {summary['method']}",
                      eval_success=result.eval_success_rate)
    return summary


def _rolling(values, window: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    out = np.empty_like(v)
    for i in range(len(v)):
        out[i] = v[max(0, i - window + 1): i + 1].mean()
    return out


def plot_training(records: list[EpisodeRecord], path: Path, title: str = "",
                  eval_success: float = math.nan, window: int = 10) -> Path:
    """Success rate vs training episodes, and corrective vs evaluative share over training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inter = [r for r in records if r.phase == "interactive"]
    x = np.arange(1, len(inter) + 1)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    ax1.plot(x, _rolling([r.success for r in inter], window), label=f"training episodes, "
             f"teacher in the loop (rolling mean of {window})")
    checks: dict[int, list[bool]] = {}
    for r in records:
        if r.phase == "progress":
            checks.setdefault(r.index, []).append(r.success)
    if checks:
        xs = sorted(checks)
        ax1.plot(xs, [np.mean(checks[k]) for k in xs], "o-", color="tab:purple",
                 label=f"agent alone ({len(checks[xs[0]])} episodes per point)")
    if not math.isnan(eval_success):
        ax1.axhline(eval_success, color="k", ls="--", label=f"final evaluation "
                    f"({eval_success:.0%})")
    ax1.set_ylabel("success rate")
    ax1.set_ylim(-0.02, 1.02)
    ax1.legend(loc="best", fontsize="small")
    ax1.set_title(title)
    ax2.stackplot(x, [r.corrective_rate for r in inter], [r.evaluative_rate for r in inter],
                  [r.none_rate for r in inter], labels=["corrective", "evaluative", "none"],
                  colors=["tab:red", "tab:green", "tab:gray"], alpha=0.8)
    ax2.set_ylabel("share of steps")
    ax2.set_xlabel("interactive episode")
    ax2.set_ylim(0, 1)
    ax2.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def markdown_table(summaries: list[dict]) -> str:
    head = ("| task | method | transport | eval success | eval episodes | interactive success | "
            "gradient steps | wall time (s) |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        inter = s["interactive_success_rate"]
        lines.append(
            f"| {s['task']} | {s['method']} | {s['transport']} | {s['eval_success_rate']:.0%} | "
            f"{s['eval_episodes']} | {'-' if math.isnan(inter) else f'{inter:.0%}'} | "
            f"{s['train_steps']} | {s['wall_s']:.0f} |")
    return "\n".join(lines)
