"""Training pace: how many gradient steps the next episode waits for.

As in the paper's budget (2000 + 20 x episodes gradient steps), training grows with every
episode, not with wall time: after the warm start, episode n + 1 starts once the learner has
taken ``base + steps_per_episode * n`` gradient steps (training runs concurrently and may be
ahead). ``free`` never waits, as on a real robot that cannot pause for training.
"""

from __future__ import annotations

from dataclasses import dataclass

PACES = ("episode", "free")


@dataclass(frozen=True)
class TrainingPace:
    base_steps: int  # gradient steps when interactive collection began (after the warm start)
    steps_per_episode: int

    def __post_init__(self):
        if self.base_steps < 0 or self.steps_per_episode < 0:
            raise ValueError(f"pace needs base_steps >= 0 and steps_per_episode >= 0, "
                             f"got {self.base_steps}, {self.steps_per_episode}")

    def target(self, episodes: int) -> int:
        """Gradient steps due once ``episodes`` interactive episodes are stored."""
        return self.base_steps + self.steps_per_episode * episodes

    def reached(self, steps: int, episodes: int) -> bool:
        return steps >= self.target(episodes)


class EpisodeGate:
    """The simulator's side: may the next episode start? Under ``episode`` pace only when the
    learner has finished with the episode that ended (stored it) and trained its budget; it
    keeps account of how long the simulator waited."""

    def __init__(self, pace: str = "episode"):
        if pace not in PACES:
            raise ValueError(f"pace must be one of {PACES}, got {pace!r}")
        self.pace = pace
        self.last_episode = -1  # the learner's last finished episode (-1: no status yet)
        self.run: int | None = None  # the simulator run that episode counts in
        self.ready = False
        self.gradient_steps = 0
        self.target_steps = 0
        self.waiting_since: float | None = None
        self.last_wait_s = 0.0
        self.total_wait_s = 0.0

    def update(self, last_episode: int, ready: bool, gradient_steps: int = 0,
               target_steps: int = 0, run: int | None = None) -> None:
        """A status report from the learner (``last_episode`` counted in ``run``)."""
        self.last_episode, self.ready, self.run = int(last_episode), bool(ready), run
        self.gradient_steps, self.target_steps = int(gradient_steps), int(target_steps)

    def stored(self, ended_episode: int, run: int | None) -> bool:
        """The learner has finished with ``ended_episode`` of ``run`` (0: none yet)."""
        if self.last_episode < 0:
            return False
        return ended_episode == 0 or (self.run == run and self.last_episode >= ended_episode)

    def may_start(self, ended_episode: int, now: float, run: int | None = None) -> bool:
        """Whether the episode after ``ended_episode`` (0: the first) of the simulator's
        ``run`` may start at ``now``."""
        if self.pace == "free" or (self.ready and self.stored(ended_episode, run)):
            if self.waiting_since is not None:
                self.last_wait_s = now - self.waiting_since
                self.total_wait_s += self.last_wait_s
                self.waiting_since = None
            return True
        if self.waiting_since is None:
            self.waiting_since = now
        return False

    @property
    def waiting(self) -> bool:
        return self.waiting_since is not None
