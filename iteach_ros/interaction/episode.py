"""One episode's data: observations and labels by step, in whatever order they arrive, turned
into a trajectory once the episode has ended; and its feedback statistics.

In one process a step's observation and label come together; in the graph they come from
different nodes (the simulator's observation, the arbiter's feedback record), and the end
event can overtake the last labels, so the assembler keys everything by step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from iteach_ros.learning.arbiter import FeedbackKind
from iteach_ros.learning.buffer import Trajectory, TrajectoryBuilder


@dataclass
class FeedbackStats:
    """Per-episode shares of feedback kinds and the mean defined angle."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    angle_sum: float = 0.0
    angles: int = 0

    def add(self, kind: int, angle_deg: float) -> None:
        self.counts[int(kind)] += 1
        if not math.isnan(angle_deg):
            self.angle_sum += angle_deg
            self.angles += 1

    @property
    def steps(self) -> int:
        return int(self.counts.sum())

    def rates(self) -> tuple[float, float, float]:
        """(evaluative, corrective, none) shares; NaN without any labelled step."""
        if not self.steps:
            return math.nan, math.nan, math.nan
        r = self.counts / self.steps
        return (float(r[FeedbackKind.EVALUATIVE]), float(r[FeedbackKind.CORRECTIVE]),
                float(r[FeedbackKind.NONE]))

    def mean_angle_deg(self) -> float:
        return self.angle_sum / self.angles if self.angles else math.nan


@dataclass(frozen=True)
class Label:
    executed: np.ndarray
    kind: int
    train: bool


class EpisodeAssembler:
    """Observations (what the learner acted on) and labels (the arbiter's verdicts) of one
    episode, keyed by step. Only steps with both become training samples, in step order."""

    def __init__(self, **meta):
        self.meta = meta
        self.observations: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.labels: dict[int, Label] = {}
        self.stats = FeedbackStats()

    def observe(self, step: int, image, proprio) -> None:
        self.observations[step] = (image, proprio)

    def label(self, step: int, executed, kind: int, train: bool,
              angle_deg: float = math.nan) -> bool:
        """Record a step's label; False (and nothing changes) when the step already has one."""
        if step in self.labels:
            return False
        self.labels[step] = Label(np.asarray(executed, dtype=np.float32), int(kind), bool(train))
        self.stats.add(kind, angle_deg)
        return True

    def missing_labels(self) -> list[int]:
        """Steps acted on whose label has not arrived."""
        return sorted(set(self.observations) - set(self.labels))

    def usable_steps(self) -> list[int]:
        return sorted(set(self.observations) & set(self.labels))

    def build(self, **more_meta) -> Trajectory | None:
        """The labelled steps as one trajectory (None when there is none)."""
        steps = self.usable_steps()
        if not steps:
            return None
        builder = TrajectoryBuilder(**self.meta)
        for k in steps:
            image, proprio = self.observations[k]
            lab = self.labels[k]
            builder.add(image, proprio, lab.executed, lab.kind, lab.train)
        return builder.build(**more_meta)


EpisodeKey = tuple[int, int]  # (run, episode)


@dataclass
class EndedEpisode:
    """An episode the learner is done with: its data and how it ended."""

    key: EpisodeKey
    assembler: EpisodeAssembler | None  # None: nothing was observed
    missing: list[int]  # steps acted on whose label never came
    end: object  # what the caller passed to ``end`` (e.g. the end event); None: interrupted


class EpisodeCollector:
    """One pipeline's episodes in progress on the learner's side, keyed by (run, episode). In
    the graph, the end event (from the simulator) can overtake the last labels (from the
    arbiter), so an ended episode waits up to ``label_wait_s`` for the labels of the steps it
    acted on; then it is done, without the missing ones. Replays of a finished episode are
    refused. When a new run starts (a restarted simulator), the old run's open episodes are
    done as they are (interrupted: ``end`` None)."""

    def __init__(self, label_wait_s: float, make_assembler=None):
        self.label_wait_s = label_wait_s
        # (run, episode) -> its EpisodeAssembler (the meta its trajectory carries)
        self.make_assembler = make_assembler or (lambda key: EpisodeAssembler(
            run_id=int(key[0]), episode=int(key[1])))
        self.open: dict[EpisodeKey, EpisodeAssembler] = {}
        self.ending: dict[EpisodeKey, tuple[object, float]] = {}  # key -> (end, deadline)
        self.finished: set[EpisodeKey] = set()

    def _assembler(self, key: EpisodeKey) -> EpisodeAssembler | None:
        if key in self.finished:
            return None
        if key not in self.open:
            self.open[key] = self.make_assembler(key)
        return self.open[key]

    def observe(self, key: EpisodeKey, step: int, image, proprio) -> bool:
        """False (nothing kept) for an episode already finished."""
        asm = self._assembler(key)
        if asm is not None:
            asm.observe(step, image, proprio)
        return asm is not None

    def label(self, key: EpisodeKey, step: int, executed, kind: int, train: bool,
              angle_deg: float = math.nan) -> bool:
        """True for a new label; False for a replay (a finished episode, a labelled step)."""
        asm = self._assembler(key)
        return asm is not None and asm.label(step, executed, kind, train, angle_deg)

    def end(self, key: EpisodeKey, end, now: float) -> bool:
        """The episode ended; False if it was already finished or ending."""
        if key in self.finished or key in self.ending:
            return False
        self.ending[key] = (end, now + self.label_wait_s)
        return True

    def new_run(self, run: int, now: float) -> None:
        """A new simulator run: the open episodes of other runs will never end; they still
        wait ``label_wait_s`` for labels in flight (or replayed to a restarted learner)."""
        for key in list(self.open):
            if key[0] != run and key not in self.ending:
                self.ending[key] = (None, now + self.label_wait_s)

    def awaits_labels(self, key: EpisodeKey) -> bool:
        """An ended (or interrupted) episode that still takes its missing labels."""
        return key in self.ending

    @property
    def waiting(self) -> bool:
        return bool(self.ending)

    def done(self, now: float, force: bool = False) -> list[EndedEpisode]:
        """The ended episodes whose every acted-on step is labelled, or that waited long
        enough (or all of them, ``force``): handed over and forgotten."""
        out = []
        for key, (end, deadline) in list(self.ending.items()):
            asm = self.open.get(key)
            missing = asm.missing_labels() if asm is not None else []
            if missing and not force and now < deadline:
                continue
            del self.ending[key]
            self.open.pop(key, None)
            self.finished.add(key)
            out.append(EndedEpisode(key, asm, missing, end))
        return out
