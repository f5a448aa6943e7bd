"""What a CodePolicy's validation found, and its account in words for the LLM.

A :class:`ValidationReport` holds one :class:`EpisodeRecord` per seeded open-loop episode,
each with the trace of the program's steps (:class:`StepTrace`: when each began and finished,
how far the gripper travelled, whether it had come to rest, what moved) and which of the task's
success conditions held. ``feedback()`` (for the repair loop) and ``account()`` (for a planner
revising the plan) say what went wrong, step by step.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from iteach_ros.core.state import GRIPPER

SETTLE_WINDOW = 20  # control steps (1 s) over which a gripper at rest moves less than ...
SETTLE_M = 0.005  # ... this far, metres
INSTANT_STEPS = 1  # a step finished this soon: its check passed on the step's first reading
BLOCKED_NEAR_M = 0.06  # an unfinished step whose gripper ended this close to an object ...
BLOCKED_PUSH_M = 0.005  # ... that moved this far, less than half as far as the gripper (so not
# carried along), ran into that object


@dataclass
class StepTrace:
    """One program step in one episode: control steps ``start`` (the first observation the
    step acted on) to ``end`` (the observation at which the next step began; None: it never
    finished), the gripper's path length, whether it was at rest at the end (moved less than
    ``SETTLE_M`` over the last ``SETTLE_WINDOW`` control steps), the net displacement of each
    object during the step, and the end distances from the gripper to each object."""

    step: int
    start: int
    end: int | None = None
    gripper_path_m: float = 0.0
    gripper_settled: bool = False
    moved_m: dict[str, float] = field(default_factory=dict)
    gripper_to_m: dict[str, float] = field(default_factory=dict)
    gripper_closed: bool | None = None
    # the program's mean translation command over the step (each axis in [-0.9, 0.9]): what
    # its motion code asked for, which a blocked arm's path does not show
    command: list[float] = field(default_factory=list)
    normals: dict[str, list[float]] = field(default_factory=dict)  # objects' at the step start

    @property
    def finished(self) -> bool:
        return self.end is not None

    def pushed(self) -> list[str]:
        """Objects the gripper ran into: moved during the step, but less than half as far as
        the gripper (not carried along), the gripper ending near them."""
        carried = 0.5 * self.moved_m.get(GRIPPER, 0.0)
        return [k for k, d in self.moved_m.items()
                if k != GRIPPER and BLOCKED_PUSH_M <= d < carried
                and self.gripper_to_m.get(k, 1.0) < BLOCKED_NEAR_M]

    @property
    def duration(self) -> int | None:
        return None if self.end is None else self.end - self.start


@dataclass
class EpisodeRecord:
    seed: int
    success: bool
    steps: int
    final_step: int  # the CodePolicy's current_step when the episode ended
    program_done: bool
    failure: str | None = None  # 'step_limit', 'program_done_without_success', 'error', ...
    error: str | None = None  # the sandbox error message, when the program faulted
    error_kind: str | None = None
    error_lineno: int | None = None
    final_positions: dict[str, list[float]] = field(default_factory=dict)
    moved_m: dict[str, float] = field(default_factory=dict)  # distance from start, metres
    gripper_closed: bool | None = None  # at the end of the episode
    trace: list[StepTrace] = field(default_factory=list)  # the program steps it went through
    conditions: dict[str, bool | None] = field(default_factory=dict)  # success condition: held

    def step_trace(self, step: int) -> StepTrace | None:
        return next((t for t in self.trace if t.step == step), None)


@dataclass
class StepStats:
    """How one program step fared over a report's episodes."""

    step: int
    reached: int = 0  # episodes in which the step began
    finished: int = 0  # ... and finished
    instant: int = 0  # ... finished within INSTANT_STEPS control steps
    settled_unfinished: int = 0  # never finished, the gripper at rest at the end
    still_unfinished: int = 0  # never finished, the gripper barely moved during the step
    infeasible: int = 0  # the episode ended on unreachable moves during the step
    errors: int = 0  # the program faulted during the step
    blocked: int = 0  # never finished: the gripper ran into an object and pushed it
    blocked_closed: int = 0  # ... with its fingers closed
    pushed: dict[str, int] = field(default_factory=dict)  # object -> such episodes


@dataclass
class ValidationReport:
    task: str
    seeds: list[int]
    noise_std: float = 0.0
    episodes: list[EpisodeRecord] = field(default_factory=list)
    static_error: str | None = None
    static_lineno: int | None = None

    @property
    def static_ok(self) -> bool:
        return self.static_error is None

    @property
    def successes(self) -> int:
        return sum(e.success for e in self.episodes)

    @property
    def success_rate(self) -> float:
        return self.successes / len(self.episodes) if self.episodes else 0.0

    def summary(self) -> dict:
        return {"task": self.task, "seeds": list(self.seeds), "noise_std": self.noise_std,
                "episodes": len(self.episodes), "successes": self.successes,
                "success_rate": round(self.success_rate, 4), "static_error": self.static_error}

    def to_dict(self) -> dict:
        out = self.summary()
        out["records"] = [asdict(e) for e in self.episodes]
        return out

    def failing_step(self) -> int | None:
        """The CodePolicy step most failed episodes ended in (None if none failed)."""
        failed = [e.final_step for e in self.episodes if not e.success]
        return collections.Counter(failed).most_common(1)[0][0] if failed else None

    def first_error(self) -> EpisodeRecord | None:
        return next((e for e in self.episodes if e.error), None)

    def step_stats(self, n_steps: int) -> list[StepStats]:
        """Per program step 1..n_steps: how many episodes reached it, finished it, and how the
        others got stuck in it."""
        stats = [StepStats(k) for k in range(1, n_steps + 1)]
        for e in self.episodes:
            for t in e.trace:
                if not 1 <= t.step <= n_steps:
                    continue
                st = stats[t.step - 1]
                st.reached += 1
                if t.finished:
                    st.finished += 1
                    st.instant += int(t.duration <= INSTANT_STEPS)
                elif e.error:
                    st.errors += 1
                elif e.failure == "infeasible_actions":
                    st.infeasible += 1
                elif t.gripper_path_m < SETTLE_M:
                    st.still_unfinished += 1
                elif t.gripper_settled:
                    st.settled_unfinished += 1
                if not t.finished and not e.error and t.pushed():
                    st.blocked += 1
                    st.blocked_closed += int(bool(t.gripper_closed))
                    for k in t.pushed():
                        st.pushed[k] = st.pushed.get(k, 0) + 1
        return stats

    def mean_progress(self, n_steps: int) -> float:
        """Mean fraction of the plan's steps finished per episode (1 for a success)."""
        if not self.episodes or n_steps < 1:
            return 0.0
        done = [1.0 if e.success else min(sum(t.finished for t in e.trace
                                              if 1 <= t.step <= n_steps), n_steps) / n_steps
                for e in self.episodes]
        return float(np.mean(done))

    def unmet_conditions(self) -> list[tuple[str, int]]:
        """Success conditions that failed episodes did not meet, with how many (decidable
        ones; the undecidable ones count every failed episode)."""
        counts: dict[str, int] = {}
        for e in self.episodes:
            if e.success:
                continue
            for text, held in e.conditions.items():
                if held is not True:
                    counts[text] = counts.get(text, 0) + 1
        return sorted(counts.items(), key=lambda kv: -kv[1])

    def failure_classes(self) -> list[FailureClass]:
        """Failed episodes grouped by how they failed and in which step, most frequent first."""
        groups: dict[tuple, list[EpisodeRecord]] = {}
        for e in self.episodes:
            if e.success:
                continue
            if e.error:
                key = ("error", e.final_step, e.error)
            elif e.program_done:
                key = ("done", None, None)
            elif e.failure == "infeasible_actions":
                key = ("infeasible", e.final_step, None)
            else:
                key = ("stuck", e.final_step, None)
            groups.setdefault(key, []).append(e)
        classes = [FailureClass(kind, step, len(eps), eps[0], error)
                   for (kind, step, error), eps in groups.items()]
        return sorted(classes, key=lambda c: (-c.count, c.step or 0))

    def feedback(self, instructions: Sequence[str] = (), detail: bool = True,
                 step: int | None = None) -> str:
        """What went wrong, in words an LLM can act on: every way the program failed, with how
        many episodes failed so and (``detail``) the end state of one of them and what happened
        during the step it ended in; ``step``: only the ways that ended in that step."""
        if self.static_error:
            return f"The program was rejected before running: {self.static_error}"
        n = len(self.episodes)
        failed = [e for e in self.episodes if not e.success]
        if not failed:
            return f"The program succeeded in all {n} episodes."
        parts = [f"The program succeeded in {n - len(failed)} of {n} simulated episodes."]
        classes = self.failure_classes()
        if step is not None and any(c.step == step for c in classes):
            classes = [c for c in classes if c.step == step]
        for c in classes:
            step = c.step
            what = (f" ('{instructions[step - 1]}')"
                    if step is not None and 0 < step <= len(instructions) else "")
            if c.kind == "error":
                line = f"In {c.count} episode(s) it stopped with an error: {c.error}"
            elif c.kind == "done":
                line = (f"In {c.count} episode(s) the program finished all its steps but the "
                        "task was not achieved.")
            elif c.kind == "infeasible":
                line = (f"In {c.count} episode(s) the arm could not follow the moves of step "
                        f"{step}{what} (the gripper was asked to go where it cannot reach).")
            else:
                line = (f"In {c.count} episode(s) it never finished step {step}{what} before "
                        "the time limit.")
            if detail and c.kind != "error":
                line += _end_state(c.example)
                if c.step is not None:
                    line += _step_account(c.example.step_trace(c.step))
            parts.append(line)
        unmet = self.unmet_conditions()
        if unmet and detail:
            parts.append("The task succeeds when " + " and ".join(
                t for t, _ in unmet) + "; in the failed episodes this did not hold.")
        return " ".join(parts)

    def account(self, instructions: Sequence[str], moving: set[int] | None = None) -> str:
        """The plan's course through the episodes, step by step, for a planner that revises
        the plan: how many episodes began and finished each step, how the others got stuck in
        it, and which success conditions failed. ``moving``: the steps whose code moves the
        gripper (only for them is finishing at once worth saying; default: all)."""
        n = len(instructions)
        total = len(self.episodes)
        if self.static_error:
            return self.feedback(instructions)
        lines = [f"In the simulator the program succeeded in {self.successes} of {total} "
                 "episodes."]
        for st in self.step_stats(n):
            what = f"Step {st.step} ('{instructions[st.step - 1]}')"
            if not st.reached:
                lines.append(f"{what} was never reached.")
                continue
            how = [f"{what} began in {st.reached} episode(s) and finished in {st.finished}"]
            if st.instant and (moving is None or st.step in moving):
                how.append(f"{st.instant} finished at once, before the gripper moved")
            if st.still_unfinished:
                how.append(f"in {st.still_unfinished} the gripper did not move")
            if st.settled_unfinished:
                how.append(f"in {st.settled_unfinished} the gripper stopped and the step's "
                           "check never passed")
            if st.infeasible:
                how.append(f"in {st.infeasible} the arm could not reach the goal")
            if st.blocked:
                what_ = " and the ".join(sorted(st.pushed, key=lambda k: -st.pushed[k]))
                how.append(f"in {st.blocked} the gripper ran into the {what_} and pushed it"
                           + (" with its fingers closed" if st.blocked_closed * 2 > st.blocked
                              else ""))
            if st.errors:
                how.append(f"in {st.errors} the program failed with an error")
            lines.append("; ".join(how) + ".")
        failed = [e for e in self.episodes if not e.success]
        if failed:
            lines.append(_end_state(failed[0]).strip())
        unmet = self.unmet_conditions()
        if unmet:
            lines.append("The task succeeds when " + " and ".join(
                t for t, _ in unmet) + "; in the failed episodes this did not hold.")
        return " ".join(lines)


@dataclass
class FailureClass:
    """Failed episodes that ended the same way: ``kind`` 'error' (the program faulted),
    'stuck' (a step never finished before the step limit), 'infeasible' (repeated unreachable
    moves ended the episode) or 'done' (all steps ran, the task was not achieved)."""

    kind: str
    step: int | None  # the CodePolicy step the episodes ended in (None for 'done')
    count: int
    example: EpisodeRecord
    error: str | None = None


def _step_account(trace: StepTrace | None) -> str:
    if trace is None:
        return ""
    near = ", ".join(f"{100 * d:.1f} cm from the {k}" for k, d in trace.gripper_to_m.items())
    moved = [f"the {k} {100 * d:.1f} cm" for k, d in trace.moved_m.items()
             if k != GRIPPER and d >= 0.005]
    return (f" During that step the gripper travelled {100 * trace.gripper_path_m:.1f} cm"
            + (" and had come to rest" if trace.gripper_settled else "")
            + (f", ending {near}" if near else "")
            + (f"; objects moved: {', '.join(moved)}" if moved else "; no object moved") + "."
            + _command_account(trace.command, trace.normals))


_AXIS_WORDS = (("+x", "-x"), ("+y", "-y"), ("up (+z)", "down (-z)"))
COMMAND_SHARE = 0.3  # a mean command component (of 0.9) worth naming
NORMAL_COS = 0.7  # a command this close to an object's normal is said to go along it


def _ways(vector, share: float) -> list[str]:
    return [_AXIS_WORDS[i][0 if c > 0 else 1] for i, c in enumerate(vector) if abs(c) >= share]


def _command_account(command, normals=None) -> str:
    """The way the step's motion code pointed the gripper, e.g. 'down (-z)' for a 'lift'
    coded with the wrong sign, and the object normal it went along or against (a small model
    writes ``- 0.2 * lid.normal`` for 'lift' without knowing that the lid's normal points up);
    empty when it commanded no steady motion."""
    if len(command) != 3:
        return ""
    ways = _ways(command, COMMAND_SHARE)
    if not ways:
        return ""
    text = f" Its motion code drove the gripper toward {' and '.join(ways)}"
    cmd = np.asarray(command, float) / np.linalg.norm(command)
    for name, normal in (normals or {}).items():
        n = np.asarray(normal, float)
        if name == GRIPPER or not np.isclose(np.linalg.norm(n), 1.0, atol=0.05):
            continue
        cos = float(cmd @ n)
        if abs(cos) >= NORMAL_COS:
            text += (f", {'along' if cos > 0 else 'against'} the {name}'s normal, which points "
                     f"{' and '.join(_ways(n, 0.5))}")
            break
    return text + "."


def _end_state(ep: EpisodeRecord) -> str:
    if not ep.final_positions:
        return ""
    where = ", ".join(f"{k} at {np.round(v, 3).tolist()}" for k, v in ep.final_positions.items())
    moved = ", ".join(f"{k} {100 * v:.1f} cm" for k, v in ep.moved_m.items() if k != GRIPPER)
    grip = ("" if ep.gripper_closed is None else
            f"; the gripper was {'closed' if ep.gripper_closed else 'open'}")
    return (f" At the end of one such episode (seed {ep.seed}): {where}{grip}"
            + (f"; distance each object moved: {moved}" if moved else "") + ".")
