"""The arbiter's angle rule, its edge cases and the ablation modes."""

import math

import numpy as np
import pytest

from iteach_ros.learning.arbiter import (
    ArbiterError,
    FeedbackArbiter,
    FeedbackKind,
    translation_angle_deg,
)

TEACHER = np.array([0.9, 0.0, 0.0, 0.9])


def rotated(deg: float, gripper: float = 0.9) -> np.ndarray:
    """An agent action whose translation is the teacher's rotated by ``deg`` in the x-y plane."""
    r = math.radians(deg)
    return np.array([0.5 * math.cos(r), 0.5 * math.sin(r), 0.0, gripper])


@pytest.mark.parametrize("deg", [0.0, 19.9, 20.1, 90.0, 180.0])
def test_angle_is_measured(deg):
    assert translation_angle_deg(rotated(deg), TEACHER) == pytest.approx(deg, abs=1e-6)


@pytest.mark.parametrize("deg, kind", [
    (0.0, FeedbackKind.EVALUATIVE), (19.9, FeedbackKind.EVALUATIVE),
    (20.1, FeedbackKind.CORRECTIVE), (90.0, FeedbackKind.CORRECTIVE),
    (180.0, FeedbackKind.CORRECTIVE)])
def test_beta_20_rule(deg, kind):
    agent = rotated(deg)
    d = FeedbackArbiter(beta_deg=20.0).decide(agent, TEACHER)
    assert d.kind == kind and d.angle_deg == pytest.approx(deg, abs=1e-6)
    expected = agent if kind == FeedbackKind.EVALUATIVE else TEACHER
    np.testing.assert_array_equal(d.executed, expected)
    assert d.train_weight_base == 1.0


@pytest.mark.parametrize("beta, evaluative_up_to", [(0, 0.0), (90, 90.0), (180, 180.0)])
def test_beta_sweep(beta, evaluative_up_to):
    arb = FeedbackArbiter(beta_deg=beta)
    for deg in (0.0, 45.0, 90.0, 135.0, 180.0):
        kind = arb.decide(rotated(deg), TEACHER).kind
        assert (kind == FeedbackKind.EVALUATIVE) == (deg <= evaluative_up_to), (beta, deg)


def test_zero_vectors():
    arb = FeedbackArbiter()
    both_zero = arb.decide([0, 0, 0, 0.9], [0, 0, 0, 0.9])
    assert both_zero.kind == FeedbackKind.EVALUATIVE and both_zero.angle_deg == 0.0
    agent_zero = arb.decide([0, 0, 0, 0.9], TEACHER)
    assert agent_zero.kind == FeedbackKind.CORRECTIVE and math.isnan(agent_zero.angle_deg)
    teacher_zero = arb.decide(rotated(0), [0, 0, 0, 0.9])
    assert teacher_zero.kind == FeedbackKind.CORRECTIVE and math.isnan(teacher_zero.angle_deg)
    # beta = 180 never corrects, even an undefined angle
    assert FeedbackArbiter(180).decide([0, 0, 0, 0.9], TEACHER).kind == FeedbackKind.EVALUATIVE


def test_gripper_disagreement_is_corrected():
    d = FeedbackArbiter().decide(rotated(0, gripper=-1.0), TEACHER)
    assert d.kind == FeedbackKind.CORRECTIVE and d.angle_deg == pytest.approx(0.0)
    d = FeedbackArbiter(gripper_must_agree=False).decide(rotated(0, gripper=-1.0), TEACHER)
    assert d.kind == FeedbackKind.EVALUATIVE


def test_nan_and_bad_shapes():
    arb = FeedbackArbiter()
    d = arb.decide([math.nan, 0, 0, 1], TEACHER)
    assert d.kind == FeedbackKind.CORRECTIVE and math.isnan(d.angle_deg)
    np.testing.assert_array_equal(d.executed, TEACHER)
    assert arb.decide([0.1, 0.2], TEACHER).kind == FeedbackKind.CORRECTIVE
    with pytest.raises(ArbiterError):
        arb.decide(rotated(0), [math.nan, 0, 0, 0.9])
    with pytest.raises(ArbiterError):
        arb.decide(rotated(0), [0.9, 0.0])
    with pytest.raises(ValueError):
        FeedbackArbiter(beta_deg=200)
    with pytest.raises(ValueError):
        FeedbackArbiter(mode="sometimes")


def test_ablation_modes():
    corrective_only = FeedbackArbiter(mode="corrective_only")
    d = corrective_only.decide(rotated(5), TEACHER)
    assert d.kind == FeedbackKind.EVALUATIVE and d.train_weight_base == 0.0
    d = corrective_only.decide(rotated(60), TEACHER)
    assert d.kind == FeedbackKind.CORRECTIVE and d.train_weight_base == 1.0
    evaluative_only = FeedbackArbiter(mode="evaluative_only")
    d = evaluative_only.decide(rotated(60), TEACHER)
    assert d.kind == FeedbackKind.NONE and d.train_weight_base == 0.0
    np.testing.assert_array_equal(d.executed, rotated(60))  # the agent always acts
    assert evaluative_only.decide(rotated(5), TEACHER).kind == FeedbackKind.EVALUATIVE


def test_seven_d_actions_compare_the_gripper_not_the_roll():
    """In 7-D mode the gripper is the last component (after droll, dpitch, dyaw)."""
    teacher = [0.9, 0.0, 0.0, 0.5, 0.0, 0.0, 1.0]
    same_gripper_other_roll = [0.9, 0.0, 0.0, -0.5, 0.0, 0.0, 1.0]
    other_gripper = [0.9, 0.0, 0.0, 0.5, 0.0, 0.0, -1.0]
    arb = FeedbackArbiter()
    assert arb.decide(same_gripper_other_roll, teacher).kind == FeedbackKind.EVALUATIVE
    assert arb.decide(other_gripper, teacher).kind == FeedbackKind.CORRECTIVE
