"""What one CodePolicy generation is asked for and what it gives back (ROS-free): the
:class:`GenerationConfig` (budget, sampling, acceptance), each validated :class:`Candidate`,
the :class:`GenerationResult` with its provenance, and the errors that end a generation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from iteach_ros.teacher.diagnosis import Diagnosis
from iteach_ros.teacher.prompting import AssembledPolicy, StepCode
from iteach_ros.teacher.report import ValidationReport

GENERATOR_VERSION = "iteach_ros.teacher/plan-search-1"


@dataclass
class GenerationConfig:
    """Budget, sampling and acceptance of one generation.

    max_tries: programs validated in the simulator (each candidate plan or repair is one).
    time_budget_s: wall-clock seconds after which no new LLM request starts (None: no limit).
    snippet_tries: answers asked for one snippet until it passes the static checks.
    plan_tries: answers asked for one plan until it parses and is new.
    seeds: validation episodes' seeds (open loop).
    screen_seeds: the first this many seeds screen a program; it runs on the rest only if one
        of them succeeded.
    accept_rate: success rate (over all ``seeds``) at which a program is accepted.
    holdout: leave out the few-shot examples related to the task (uncovered-task generation).
    plan_temperature: sampling temperature of fresh plans after the first (greedy) one.
    repair_temperature: sampling temperature of plan revisions and step repairs.
    step_repairs: repairs of one step of a plan before the plan is blamed.
    max_plan_steps: longest plan (the plan grammar's limit).
    grammar: constrain the answers of models that accept GBNF grammars (local llama.cpp).
    seed: base of the sampling seeds (request i is sampled with seed + i).
    """

    max_tries: int = 60
    time_budget_s: float | None = 540.0
    snippet_tries: int = 3
    plan_tries: int = 3
    # 20, not 10: a program that worked by accident passed 9 of seeds 0-9 and 24 of 50 held out
    seeds: tuple[int, ...] = tuple(range(20))
    screen_seeds: int = 3
    accept_rate: float = 0.9
    holdout: bool = False
    plan_temperature: float = 0.8
    repair_temperature: float = 0.6
    step_repairs: int = 3
    max_plan_steps: int = 8
    grammar: bool = True
    seed: int = 0

    def __post_init__(self):
        for name in ("max_tries", "snippet_tries", "plan_tries", "max_plan_steps",
                     "step_repairs", "screen_seeds"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GenerationConfig.{name} must be >= 1")
        if not 0.0 < self.accept_rate <= 1.0:
            raise ValueError(f"GenerationConfig.accept_rate must be in (0, 1], "
                             f"got {self.accept_rate}")
        if not self.seeds:
            raise ValueError("GenerationConfig.seeds must not be empty")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError("GenerationConfig.time_budget_s must be positive or None")
        for name in ("plan_temperature", "repair_temperature"):
            if not 0.0 <= float(getattr(self, name)) <= 2.0:
                raise ValueError(f"GenerationConfig.{name} must be in [0, 2]")
        self.seeds = tuple(int(s) for s in self.seeds)


@dataclass
class Candidate:
    index: int  # 1-based, in the order validated
    plan: list[str]
    steps: list[StepCode]
    assembled: AssembledPolicy
    report: ValidationReport
    origin: str  # how it came about: 'plan (greedy)', 'repair of #3 step 2 check', ...
    parent: int | None = None
    diagnosis: Diagnosis | None = None  # why it failed, once diagnosed

    @property
    def source(self) -> str:
        return self.assembled.source

    @property
    def success_rate(self) -> float:
        return self.report.success_rate

    @property
    def score(self) -> tuple[float, float, int]:
        """Successes first, then how far the episodes got through the plan, then how many
        seeds it ran on."""
        return (self.success_rate, self.report.mean_progress(len(self.plan)),
                len(self.report.episodes))


@dataclass
class GenerationResult:
    task: str
    description: str
    object_names: list[str]
    model_label: str
    prompt_hash: str
    holdout: bool
    config: GenerationConfig | None = None
    grammars: dict[str, str] = field(default_factory=dict)  # name -> sha256 of the GBNF text
    candidates: list[Candidate] = field(default_factory=list)
    llm_calls: int = 0
    llm_seconds: float = 0.0
    elapsed_s: float = 0.0
    accepted: bool = False
    best: Candidate | None = None
    stopped: str = ""  # why the search ended

    @property
    def tries(self) -> int:
        return len(self.candidates)

    def provenance(self) -> dict:
        best, cfg = self.best, self.config
        return {
            "task": self.task, "description": self.description,
            "object_names": list(self.object_names), "model": self.model_label,
            "prompt_hash": self.prompt_hash, "holdout_examples": self.holdout,
            "grammar": dict(self.grammars) or None,
            "sampling": None if cfg is None else {
                "seed": cfg.seed, "plan_temperature": cfg.plan_temperature,
                "repair_temperature": cfg.repair_temperature},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "generator": GENERATOR_VERSION, "tries": self.tries, "llm_calls": self.llm_calls,
            "llm_seconds": round(self.llm_seconds, 1), "elapsed_s": round(self.elapsed_s, 1),
            "accepted": self.accepted, "stopped": self.stopped,
            "best_try": best.index if best else None,
            "plan": best.plan if best else [],
            "validation": best.report.summary() if best else None,
            "tries_success_rates": [round(c.success_rate, 4) for c in self.candidates],
            "search": [{"try": c.index, "origin": c.origin, "plan": c.plan,
                        "successes": c.report.successes, "episodes": len(c.report.episodes),
                        "diagnosis": c.diagnosis.reason if c.diagnosis else None}
                       for c in self.candidates],
            "source_sha256": hashlib.sha256(best.source.encode()).hexdigest() if best else None,
        }


class GenerationError(RuntimeError):
    """The LLM gave nothing usable (e.g. no parsable plan after all tries)."""


class BudgetSpent(GenerationError):
    """The time budget ran out before the request could start."""
