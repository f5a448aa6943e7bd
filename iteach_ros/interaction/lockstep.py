"""The rules that keep the distributed step loop in step, as plain classes (no ROS, no clock of
their own: callers pass ``now`` in seconds).

The graph is a lock-step: the simulator publishes an observation for (run, episode, step) and
advances only when the executed action for that key arrives. Messages can be late, repeated
(a republished observation, a late joiner's history replay) or from a restarted process, so
every party keys what it handles by (run, episode, step): the run id is the simulator's, drawn
at its start, so a restarted simulator (counting episodes from 1 again) is a new run and never
mistaken for the old one. The newest run wins (``RunTracker``): once a run with newer messages
appears, messages of earlier runs are refused (a restarted simulator's stragglers, or a second
graph on the same domain). Newer by the messages' stamps, not by arrival: a restarted node
receives the topics' kept history in any order.

- ``SimLockStep``: the simulator's side (which action it awaits, stale and duplicate actions,
  timeouts, retries, giving up);
- ``ActionPairer``: the arbiter's side (pairing the agent's and the teacher's action of one
  step, dropping replays and what can never be completed, restart detection);
- ``AgentStream`` and ``TeacherStream``: the learner's and the teacher's per-episode state (the
  LSTM state, the CodePolicy's state machine) and the same answer to a repeated observation.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

StepKey = tuple[int, int, int]  # (run, episode, step)


def episode_of(key: StepKey) -> tuple[int, int]:
    """(run, episode) of a step key."""
    return key[0], key[1]


@dataclass
class Timeout:
    """What ``SimLockStep.poll`` found: ``retry`` (republish the observation) or ``give_up``."""

    key: StepKey
    retry: int  # 1-based retry count
    give_up: bool


class SimLockStep:
    """The simulator awaits the executed action of one (episode, step) at a time."""

    def __init__(self, timeout_s: float, max_retries: int):
        if timeout_s <= 0 or max_retries < 0:
            raise ValueError(f"need timeout_s > 0 and max_retries >= 0, got {timeout_s}, "
                             f"{max_retries}")
        self.timeout_s, self.max_retries = float(timeout_s), int(max_retries)
        self.awaited: StepKey | None = None
        self.since = 0.0
        self.retries = 0
        self.ignored = 0  # stale or duplicate actions

    def expect(self, key: StepKey, now: float) -> None:
        """An observation for ``key`` was published: its action is awaited from ``now``."""
        if self.awaited is None or episode_of(self.awaited) != episode_of(key):
            self.retries = 0  # a new episode
        self.awaited, self.since = key, now

    def is_awaited(self, key: StepKey) -> bool:
        """True for the awaited step's action; anything else is counted as ignored."""
        if key == self.awaited:
            return True
        self.ignored += 1
        return False

    def accepted(self) -> None:
        """The awaited action was executed: nothing is awaited until the next observation."""
        self.awaited, self.retries = None, 0

    def stop(self) -> None:
        """The episode ended (or was reset): late actions for it are stale."""
        self.awaited, self.retries = None, 0

    def poll(self, now: float) -> Timeout | None:
        """None while within the timeout; otherwise a retry, or giving up after the last."""
        if self.awaited is None or now - self.since < self.timeout_s:
            return None
        key = self.awaited
        self.retries += 1
        self.since = now
        if self.retries > self.max_retries:
            self.awaited = None
            return Timeout(key, self.retries, True)
        return Timeout(key, self.retries, False)


class RunTracker:
    """Which simulator run is the current one: the run of the newest message seen (by stamp,
    nanoseconds of the simulator's clock); earlier runs are refused from then on."""

    def __init__(self):
        self.run: int | None = None
        self.latest = -1  # newest stamp of the current run
        self.earlier: set[int] = set()

    def accepts(self, run: int, stamp_ns: int) -> tuple[bool, bool]:
        """(whether a message of ``run`` stamped ``stamp_ns`` belongs to the current run,
        whether the current run just changed to it)."""
        if run == self.run:
            self.latest = max(self.latest, stamp_ns)
            return True, False
        if run in self.earlier:
            return False, False
        if self.run is not None and stamp_ns <= self.latest:
            self.earlier.add(run)  # older than what the current run already said
            return False, False
        if self.run is not None:
            self.earlier.add(self.run)
        self.run, self.latest = run, stamp_ns
        return True, True


class ActionPairer:
    """Pairs the agent's and the teacher's action of one step; each step is decided once."""

    ROLES = ("agent", "teacher")

    def __init__(self, keep: int = 256):
        self.keep = keep
        self.runs = RunTracker()
        self.pending: dict[StepKey, dict] = {}
        self.decided: OrderedDict[StepKey, None] = OrderedDict()

    @property
    def run(self) -> int | None:
        return self.runs.run

    def _last_decided(self) -> StepKey | None:
        return next(reversed(self.decided)) if self.decided else None

    def accepts_run(self, run: int, stamp_ns: int) -> bool:
        """False for an earlier run; a newer run becomes the current one (a restarted
        simulator): what was pending or decided for the old one is forgotten."""
        accepted, switched = self.runs.accepts(run, stamp_ns)
        if switched:
            self.pending.clear()
            self.decided.clear()
        return accepted

    def is_replay(self, key: StepKey) -> bool:
        """Of an earlier run, already decided, or older than the last decision."""
        if key[0] != self.run:
            return key[0] in self.runs.earlier
        last = self._last_decided()
        return key in self.decided or (last is not None and key < last)

    def offer(self, key: StepKey, role: str, item, stamp_ns: int = 0
              ) -> tuple[dict | None, list[tuple]]:
        """Add one action (``stamp_ns``: the stamp of the observation it answers). Returns
        (the pair {role: item} when both are in, else None; the (key, roles) of pending steps
        older than ``key``, dropped: they can never pair)."""
        if role not in self.ROLES:
            raise ValueError(f"role must be one of {self.ROLES}, got {role!r}")
        if not self.accepts_run(key[0], stamp_ns) or self.is_replay(key):
            return None, []
        slot = self.pending.setdefault(key, {})
        slot[role] = item
        pair = None
        if len(slot) == len(self.ROLES):
            pair = self.pending.pop(key)
        dropped = [(k, sorted(self.pending[k])) for k in self.pending if k < key]
        for k, _ in dropped:
            del self.pending[k]
        return pair, dropped

    def mark_decided(self, key: StepKey) -> None:
        self.decided[key] = None
        self.pending.pop(key, None)
        while len(self.decided) > self.keep:
            self.decided.popitem(last=False)


class AgentStream:
    """The learner's state for one pipeline: the LSTM state across an episode's steps, and the
    same answer (LSTM untouched) for an observation it has already acted on."""

    def __init__(self, act):
        self._act = act  # (image, proprio, state) -> (action, new state)
        self.episode: tuple[int, int] | None = None
        self.state = None
        self.last: tuple[StepKey, np.ndarray] | None = None

    def repeat(self, key: StepKey) -> np.ndarray | None:
        """The earlier answer if ``key`` was just acted on (a republished observation)."""
        return self.last[1] if self.last is not None and self.last[0] == key else None

    def act(self, key: StepKey, image, proprio) -> np.ndarray:
        earlier = self.repeat(key)
        if earlier is not None:
            return earlier
        if episode_of(key) != self.episode:
            self.episode, self.state = episode_of(key), None
        action, self.state = self._act(image, proprio, self.state)
        self.last = (key, action)
        return action


class TeacherStream:
    """The teacher's state for one pipeline: the CodePolicy's state machine restarts with each
    episode; a faulty step yields no action and the reason; a repeated observation gets the
    same answer (the program is not stepped twice for one step).

    ``episode_failed``: why the teacher can give no action for the rest of this episode (its
    sandbox worker died or overran: the policy's ``failure``), "" while it can; the next
    episode's ``reset()`` starts it in a fresh worker."""

    def __init__(self, policy):
        self.policy = policy  # reset(), step(objects) -> object with .action
        self.episode: tuple[int, int] | None = None
        self.last: tuple[StepKey, np.ndarray | None, str] | None = None
        self.errors = 0
        self.episode_failed = ""

    def act(self, key: StepKey, objects) -> tuple[np.ndarray | None, str]:
        if self.last is not None and self.last[0] == key:
            return self.last[1], self.last[2]
        if episode_of(key) != self.episode:
            self.policy.reset()
            self.episode, self.episode_failed = episode_of(key), ""
        try:
            action, error = np.asarray(self.policy.step(objects).action, dtype=float), ""
        except Exception as exc:  # noqa: BLE001 - a generated program's fault is data, not a crash
            action, error = None, f"{type(exc).__name__}: {exc}"
            self.errors += 1
            if getattr(self.policy, "failure", None) is not None:
                self.episode_failed = error
        self.last = (key, action, error)
        return action, error


class StampPairer:
    """Pairs two streams by stamp (an observation and the perceived objects of its images).

    The last ``keep`` items of each stream are kept, so a republished observation (a retry: the
    same stamp) pairs again with the estimate its first publication used.
    """

    def __init__(self, roles: tuple[str, str], keep: int = 8):
        self.keep = keep
        self.items: dict[str, OrderedDict] = {role: OrderedDict() for role in roles}

    def offer(self, role: str, stamp_ns: int, item) -> dict | None:
        """Add one item; {role: item} for both roles when the other stream has this stamp."""
        if role not in self.items:
            raise ValueError(f"role must be one of {tuple(self.items)}, got {role!r}")
        mine = self.items[role]
        mine[stamp_ns] = item
        mine.move_to_end(stamp_ns)
        while len(mine) > self.keep:
            mine.popitem(last=False)
        (other_role, other), = ((r, d) for r, d in self.items.items() if r != role)
        if stamp_ns not in other:
            return None
        return {role: item, other_role: other[stamp_ns]}

    def clear(self) -> None:
        for d in self.items.values():
            d.clear()
