"""One step's verdict: which action runs and how the step is labelled for training."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from iteach_ros.core import ACTION_DIM
from iteach_ros.interaction.checks import InvalidData, check_action
from iteach_ros.learning.arbiter import ArbiterError, FeedbackArbiter, FeedbackKind


@dataclass(frozen=True)
class StepLabel:
    executed: np.ndarray  # the action the simulator runs
    kind: FeedbackKind
    train: bool  # the learner trains on this sample (before the corrective weight alpha)
    angle_deg: float  # between agent and teacher translations; NaN when undefined or no teacher
    note: str = ""  # why no verdict was given (a teacher fault), empty otherwise


def unlabelled(agent_action, note: str = "") -> StepLabel:
    """The agent's action runs with no verdict and is not trained on (kind NONE)."""
    return StepLabel(np.asarray(agent_action, dtype=float).copy(), FeedbackKind.NONE, False,
                     math.nan, note)


def _checked(values, dim: int, what: str) -> tuple[np.ndarray | None, str]:
    if values is None:
        return None, ""
    try:
        return check_action(values, dim, what), ""
    except InvalidData as exc:
        return None, str(exc)


def label_step(arbiter: FeedbackArbiter, agent_action, teacher_action,
               teacher_error: str = "", dim: int = ACTION_DIM) -> StepLabel:
    """Arbitrate one step. Both actions are checked first (``dim`` finite values in [-1, 1]).
    No usable teacher action (``None``: the CodePolicy faulted, ``teacher_error`` says how; or
    refused): the agent acts unlabelled. No usable agent action: the teacher's corrects it.
    Neither: ``ArbiterError`` (nothing is filled in; the step awaits a retry). ``note`` says
    what was refused."""
    agent, agent_problem = _checked(agent_action, dim, "agent action")
    teacher, teacher_problem = _checked(teacher_action, dim, "teacher action")
    note = "; ".join(p for p in (agent_problem, teacher_problem) if p)
    if teacher is None:
        why = teacher_problem or teacher_error or "no teacher action"
        if agent is None:
            raise ArbiterError(f"neither the agent nor the teacher gave a usable action "
                               f"({'; '.join(p for p in (agent_problem, why) if p)})")
        return unlabelled(agent, why)
    d = arbiter.decide(np.full(dim, np.nan) if agent is None else agent, teacher)
    return StepLabel(d.executed, d.kind, d.train_weight_base > 0, d.angle_deg, note)


def demonstration(teacher_action) -> StepLabel:
    """A teacher-only step (a warm-start demonstration): the teacher's action, corrective."""
    return StepLabel(np.asarray(teacher_action, dtype=float).copy(), FeedbackKind.CORRECTIVE,
                     True, math.nan)
