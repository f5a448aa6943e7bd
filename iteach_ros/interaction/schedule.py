"""Which episode comes next: the protocol's order of training and evaluation episodes, shared by
the in-process runner and the simulator node.

Training episodes use consecutive seeds from ``seed``. After every ``progress_every`` of them,
``progress_episodes`` evaluation episodes (the agent alone: a progress check) run on the fixed
seeds from ``progress_seed``: the same seeds at every check, so the points of a learning curve
compare. With ``evaluation`` every episode is an evaluation episode (the held-out evaluation).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ScheduledEpisode:
    seed: int
    evaluation: bool  # the agent acts alone: no teacher, no feedback, not trained on
    trained_before: int  # training episodes before this one (a progress check's place)


@dataclass(frozen=True)
class EpisodeSchedule:
    episodes: int  # training (or, with ``evaluation``, evaluation) episodes; 0 = unlimited
    seed: int
    evaluation: bool = False
    progress_every: int = 0  # 0: no evaluation episodes between training episodes
    progress_episodes: int = 0
    progress_seed: int = 0

    def __post_init__(self):
        if self.episodes < 0 or self.progress_every < 0 or self.progress_episodes < 0:
            raise ValueError(f"episode counts must be >= 0: {self}")

    def __iter__(self) -> Iterator[ScheduledEpisode]:
        counter = itertools.count() if self.episodes == 0 else range(self.episodes)
        for i in counter:
            yield ScheduledEpisode(self.seed + i, self.evaluation, 0 if self.evaluation else i)
            done = i + 1
            if (not self.evaluation and self.progress_every and self.progress_episodes
                    and done % self.progress_every == 0):
                for k in range(self.progress_episodes):
                    yield ScheduledEpisode(self.progress_seed + k, True, done)
