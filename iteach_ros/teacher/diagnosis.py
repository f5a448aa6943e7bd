"""Which part of a failed CodePolicy to regenerate: one step's motion or check, or the plan.

Pure functions over a validation report (``validation.ValidationReport``, with its per-step
traces) and the program's steps; the search in ``generator`` acts on the verdict:

- the sandbox refused the program, or it faulted at run time: the step (and part) holding the
  faulty line;
- a step that moves the gripper but finished at once (its check passed before the gripper
  moved) in most episodes, before the step they failed in: its check, then its motion (the
  later steps started from the wrong place);
- most failed episodes got stuck in step k: its motion when the gripper did not move, kept
  moving until the time ran out, or was sent where the arm cannot reach; when the gripper came
  to rest and the check never passed, the check first and the motion at the next repair (the
  rest may be the goal of a wrong motion);
- most failed episodes got stuck in a step whose gripper ran into an object and pushed it
  (without holding it): the plan is at fault (the fingers closed too early, or the approach);
- a step that sends the gripper straight to an object came to rest short of it: the object's
  point cannot be reached that way, the plan is at fault;
- every step ran and the task was still not achieved: the plan is at fault;
- a step that has been repaired ``step_repairs`` times without the program getting better: the
  plan is at fault (the step may ask for something that cannot be done).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from iteach_ros.teacher.prompting import AssembledPolicy, StepCode
from iteach_ros.teacher.validation import ValidationReport

ACTION, CHECK = "action", "check"


@dataclass(frozen=True)
class Diagnosis:
    fault: str  # 'step' | 'plan'
    reason: str  # one line, for the log and the transcript
    step: int | None = None  # 1-based, for fault 'step'
    part: str | None = None  # 'action' | 'check'
    other_part: str | None = None  # where the fault may be instead (tried at odd repairs)


def moves_gripper(step: StepCode) -> bool:
    return "move_gripper" in step.action


_BIND_RE = re.compile(r"^\s*(\w+)\s*=\s*get_object\(\s*['\"]([^'\"]+)['\"]\s*\)\s*$", re.M)
_STRAIGHT_RE = re.compile(r"^\s*move_gripper\(\s*(\w+)\.position\s*-\s*(\w+)\.position\s*\)\s*$",
                          re.M)


def straight_to(step: StepCode) -> str | None:
    """The object a step's motion sends the gripper straight to
    (``move_gripper(obj.position - gripper.position)`` and nothing else), or None."""
    names = {v: o for v, o in _BIND_RE.findall(step.action)}
    calls = re.findall(r"move_gripper\(", step.action)
    m = _STRAIGHT_RE.search(step.action)
    if len(calls) != 1 or m is None or names.get(m.group(2)) != "gripper":
        return None
    target = names.get(m.group(1))
    return target if target and target != "gripper" else None


def diagnose(report: ValidationReport, assembled: AssembledPolicy, steps: Sequence[StepCode],
             repairs: Mapping[int, int] | None = None, step_repairs: int = 3) -> Diagnosis:
    """The part to regenerate. ``repairs``: repairs already made per step of this plan."""
    repairs = repairs or {}
    n = len(steps)
    verdict = _locate(report, assembled, steps)
    if verdict.fault == "step" and repairs.get(verdict.step, 0) >= step_repairs:
        return Diagnosis("plan", f"step {verdict.step} was repaired {repairs[verdict.step]} "
                                 f"times without success ({verdict.reason})")
    if verdict.fault == "step" and not 1 <= verdict.step <= n:
        return Diagnosis("plan", verdict.reason)
    if verdict.other_part and repairs.get(verdict.step, 0) % 2 == 1:
        return Diagnosis("step", f"{verdict.reason} (now its {verdict.other_part})",
                         verdict.step, verdict.other_part, verdict.part)
    return verdict


def _locate(report: ValidationReport, assembled: AssembledPolicy,
            steps: Sequence[StepCode]) -> Diagnosis:
    if report.static_error:
        where = assembled.locate(report.static_lineno)
        if where:
            return Diagnosis("step", f"rejected: {report.static_error}", where[0], where[1])
        return Diagnosis("plan", f"rejected outside the steps: {report.static_error}")
    err = report.first_error()
    if err is not None:
        where = assembled.locate(err.error_lineno)
        if where:
            return Diagnosis("step", f"error: {err.error}", where[0], where[1])
    classes = report.failure_classes()
    if not classes:
        return Diagnosis("plan", "no failed episode to learn from")
    top = classes[0]
    if top.kind == "error":  # an error outside the steps' lines (e.g. in the assembly)
        return Diagnosis("plan", f"error outside the steps: {top.error}")
    # A step that should move the gripper but finished at once leaves the next steps to start
    # from the wrong place: it comes before whatever failed after it.
    last = len(steps) if top.kind == "done" else min(top.step or len(steps), len(steps))
    for st in report.step_stats(last):
        if st.reached and st.instant * 2 > st.reached and moves_gripper(steps[st.step - 1]):
            return Diagnosis("step", f"step {st.step} moves the gripper but finished at once",
                             st.step, CHECK, ACTION)
    if top.kind == "done":
        return Diagnosis("plan", "all steps ran but the task was not achieved")
    k = top.step
    if top.kind == "infeasible":
        return Diagnosis("step", f"step {k}: the arm could not reach its goal", k, ACTION)
    st = report.step_stats(len(steps))[k - 1] if 1 <= k <= len(steps) else None
    if st is None:
        return Diagnosis("plan", f"stuck after the plan's last step ({k})")
    unfinished = st.reached - st.finished
    if st.blocked * 2 > unfinished:  # the way there is blocked: the plan must approach
        # differently (open the fingers first, come from another side), not this step's code
        pushed = max(st.pushed, key=st.pushed.get)
        return Diagnosis("plan", f"step {k}: the gripper ran into the {pushed} and pushed it"
                         + (" with its fingers closed" if st.blocked_closed * 2 > st.blocked
                            else ""))
    target = straight_to(steps[k - 1])
    if target and st.settled_unfinished * 2 > unfinished:  # the simplest motion there is: the
        # object's point cannot be reached (inside something, behind something)
        return Diagnosis("plan", f"step {k}: the gripper stopped short of the {target} and "
                                 "could not get to it")
    if moves_gripper(steps[k - 1]) and st.still_unfinished * 2 > unfinished:
        return Diagnosis("step", f"step {k}: the gripper did not move", k, ACTION)
    if st.settled_unfinished * 2 > unfinished or not moves_gripper(steps[k - 1]):
        return Diagnosis("step", f"step {k}: the gripper came to rest and the check never "
                                 "passed", k, CHECK, ACTION)
    return Diagnosis("step", f"step {k}: the gripper kept moving and never arrived", k, ACTION)

