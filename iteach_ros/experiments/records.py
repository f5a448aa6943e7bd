"""What an experiment produces: one record per episode and the run's result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from iteach_ros.interaction.loop import EpisodeOutcome


@dataclass
class EpisodeRecord:
    phase: str  # demo | interactive | progress | eval | eval_perturbed
    index: int
    seed: int
    success: bool
    steps: int
    evaluative_rate: float = math.nan
    corrective_rate: float = math.nan
    none_rate: float = math.nan
    mean_angle_deg: float = math.nan
    teacher_errors: int = 0
    train_steps: int = 0
    wall_s: float = 0.0
    failure_reason: str = ""


@dataclass
class ProtocolResult:
    config: dict
    records: list[EpisodeRecord] = field(default_factory=list)
    eval_success_rate: float = math.nan
    perturbed_success_rate: float = math.nan  # with a push of the arm (sim.perturb); nan: none
    train_steps: int = 0
    wall_s: float = 0.0
    phase_wall_s: dict = field(default_factory=dict)
    graph_timing: dict = field(default_factory=dict)  # graph transport: {phase: {part: s}}
    trainer: object = None  # the trained learning.trainer.Trainer, for a checkpoint

    def summary(self) -> dict:
        inter = [r for r in self.records if r.phase == "interactive"]
        return {
            "task": self.config["task"], "method": self.config["method"],
            "transport": self.config.get("transport", "inprocess"),
            "eval_success_rate": self.eval_success_rate,
            "eval_episodes": sum(r.phase == "eval" for r in self.records),
            "perturbed_success_rate": self.perturbed_success_rate,
            "interactive_episodes": len(inter),
            "interactive_success_rate": (float(np.mean([r.success for r in inter]))
                                         if inter else math.nan),
            "train_steps": self.train_steps, "wall_s": round(self.wall_s, 1),
            "phase_wall_s": {k: round(v, 1) for k, v in self.phase_wall_s.items()},
            "graph_timing_s": {phase: {k: round(v, 1) for k, v in parts.items()}
                               for phase, parts in self.graph_timing.items()},
        }


def record_of(phase: str, index: int, seed: int, out: EpisodeOutcome, wall_s: float,
            train_steps: int = 0) -> EpisodeRecord:
    rec = EpisodeRecord(phase, index, seed, out.success, out.steps, failure_reason=out.reason,
                        teacher_errors=out.teacher_errors, train_steps=train_steps,
                        wall_s=wall_s)
    if out.stats.steps:
        rec.evaluative_rate, rec.corrective_rate, rec.none_rate = out.stats.rates()
        rec.mean_angle_deg = out.stats.mean_angle_deg()
    return rec


def record_of_row(phase: str, row: dict) -> EpisodeRecord:
    """An episode-log row of a graph run (``ros.episode_log``) as a record."""
    return EpisodeRecord(phase, int(row["episode"]) - 1, int(row["seed"]), bool(row["success"]),
                         int(row["steps"]), float(row["evaluative_rate"]),
                         float(row["corrective_rate"]), float(row["none_rate"]),
                         float(row["mean_angle_deg"]), int(row["teacher_errors"]),
                         int(row["gradient_steps"]), float(row["wall_s"]), str(row["reason"]))
