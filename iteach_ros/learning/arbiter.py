"""The feedback arbiter: the paper's angle rule between the agent's and the teacher's actions.

At every control step the angle between the two translation vectors (dx, dy, dz) decides:
at or below ``beta`` the agent's own action is executed and labelled *evaluative* (approved);
above it the teacher's action replaces it and is labelled *corrective*.

Edge cases (the paper does not define them; these are this project's choices):
- both translations zero (both want to stay): angle 0, they agree;
- exactly one translation zero: the angle is undefined (reported as NaN) and decided as 180 deg,
  i.e. a disagreement unless beta >= 180 (the "never correct" setting);
- a non-finite agent action: corrective (the teacher's action runs), angle NaN;
- a non-finite or wrongly sized teacher action: ``ArbiterError`` (nothing safe to execute);
- gripper: with ``gripper_must_agree`` (default) an agent whose gripper command has the other
  sign than the teacher's is corrected even when the translations agree, since closing at the
  wrong moment fails the task as surely as moving the wrong way.
Modes for the paper's ablation: ``both`` (LLM-iTeach), ``corrective_only`` (execution as in
``both``, approved samples not trained on), ``evaluative_only`` (the agent always acts; samples
above beta get no feedback and are not trained on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

BETA_DEG_DEFAULT = 20.0  # paper: swept 0, 20, 90, 180; 20 best
ZERO_NORM = 1e-9  # translations shorter than this count as "stay"
MODES = ("both", "corrective_only", "evaluative_only")


class FeedbackKind(IntEnum):
    """Matches the KIND_* constants of iteach_ros/msg/Feedback."""

    EVALUATIVE = 0
    CORRECTIVE = 1
    NONE = 2


class ArbiterError(ValueError):
    """The teacher's action cannot be arbitrated against (missing, wrong size, not finite)."""


@dataclass(frozen=True)
class Decision:
    executed: np.ndarray  # the action the simulator runs
    kind: FeedbackKind
    angle_deg: float  # NaN when undefined
    train_weight_base: float  # 1 for samples the learner trains on, 0 otherwise (before alpha)


def translation_angle_deg(agent: np.ndarray, teacher: np.ndarray) -> float:
    """Angle between the 3-D translation parts in degrees; 0 if both zero, NaN if one is."""
    a, t = np.asarray(agent[:3], float), np.asarray(teacher[:3], float)
    na, nt = float(np.linalg.norm(a)), float(np.linalg.norm(t))
    if not (math.isfinite(na) and math.isfinite(nt)):
        return math.nan
    if na < ZERO_NORM and nt < ZERO_NORM:
        return 0.0
    if na < ZERO_NORM or nt < ZERO_NORM:
        return math.nan
    cos = float(np.dot(a, t)) / (na * nt)
    return math.degrees(math.acos(min(1.0, max(-1.0, cos))))


class FeedbackArbiter:
    """Decides, per step, whose action runs and how the step is labelled."""

    def __init__(self, beta_deg: float = BETA_DEG_DEFAULT, mode: str = "both",
                 gripper_must_agree: bool = True):
        if not 0.0 <= beta_deg <= 180.0:
            raise ValueError(f"beta_deg must be within [0, 180], got {beta_deg}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.beta_deg = float(beta_deg)
        self.mode = mode
        self.gripper_must_agree = gripper_must_agree

    def decide(self, agent_action, teacher_action) -> Decision:
        teacher = np.asarray(teacher_action, dtype=float).reshape(-1)
        if teacher.size < 4 or not np.all(np.isfinite(teacher)):
            raise ArbiterError(f"teacher action must be >= 4 finite values, got {teacher_action!r}")
        agent = np.asarray(agent_action, dtype=float).reshape(-1)
        if agent.shape != teacher.shape or not np.all(np.isfinite(agent)):
            # Nothing of the agent's is safe to run: the teacher's action replaces it.
            return Decision(teacher.copy(), FeedbackKind.CORRECTIVE, math.nan,
                            0.0 if self.mode == "evaluative_only" else 1.0)
        angle = translation_angle_deg(agent, teacher)
        decided = 180.0 if math.isnan(angle) else angle
        agrees = decided <= self.beta_deg
        if self.gripper_must_agree and self.beta_deg < 180.0:
            # the gripper is the last component in both action modes (4-D and 7-D)
            agrees = agrees and (np.sign(agent[-1]) == np.sign(teacher[-1]) or teacher[-1] == 0.0)
        if self.mode == "evaluative_only":
            kind = FeedbackKind.EVALUATIVE if agrees else FeedbackKind.NONE
            return Decision(agent.copy(), kind, angle, 1.0 if agrees else 0.0)
        if agrees:
            weight = 0.0 if self.mode == "corrective_only" else 1.0
            return Decision(agent.copy(), FeedbackKind.EVALUATIVE, angle, weight)
        return Decision(teacher.copy(), FeedbackKind.CORRECTIVE, angle, 1.0)
