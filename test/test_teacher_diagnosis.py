"""What the repair loop regenerates (iteach_ros.teacher.diagnosis), from real validation reports
of assembled programs on the fake reach environment of test_teacher_generation."""

import pytest
from test_teacher_generation import OBJECTS, SEEDS, fake_validator

from iteach_ros.teacher.diagnosis import diagnose
from iteach_ros.teacher.prompting import StepCode, assemble

TO_TARGET = ("gripper = get_object('gripper')\ntarget = get_object('target')\n"
             "move_gripper(target.position - gripper.position)")
AWAY = ("gripper = get_object('gripper')\ntarget = get_object('target')\n"
        "move_gripper(gripper.position - target.position)")
UP = ("gripper = get_object('gripper')\nup = gripper.initial_position + np.array([0.0, 0.0, "
      "0.05])\nmove_gripper(up - gripper.position)")
STILL = ("gripper = get_object('gripper')\ntarget = get_object('target')\n"
         "move_gripper(np.array([0.0, 0.0, 0.0]))")
NEAR = "if np.linalg.norm(target.position - gripper.position) < 0.02:\n    increment_current_step()"
NEVER = "if 1 < 0:\n    increment_current_step()"
AT_ONCE = "if True:\n    increment_current_step()"
UP_DONE = "if np.linalg.norm(up - gripper.position) < 0.02:\n    increment_current_step()"


def verdict(*steps, repairs=None):
    code = [StepCode(f"step {i}", a, c) for i, (a, c) in enumerate(steps, 1)]
    assembled = assemble("reach the target", OBJECTS, code)
    report = fake_validator(assembled.source, "reach", SEEDS)
    return diagnose(report, assembled, code, repairs or {}, step_repairs=3)


def test_a_rested_gripper_whose_check_never_passed_blames_the_check_then_the_motion():
    d = verdict((UP, NEVER), (TO_TARGET, NEAR))
    assert (d.fault, d.step, d.part) == ("step", 1, "check") and "came to rest" in d.reason
    d = verdict((UP, NEVER), (TO_TARGET, NEAR), repairs={1: 1})
    assert (d.step, d.part) == (1, "action") and "now its action" in d.reason
    d = verdict((UP, NEVER), (TO_TARGET, NEAR), repairs={1: 3})
    assert d.fault == "plan" and "repaired 3 times" in d.reason


@pytest.mark.parametrize("action, why", [(AWAY, "kept moving"), (STILL, "did not move")])
def test_a_motion_that_never_arrives_blames_the_motion(action, why):
    d = verdict((action, NEAR))
    assert (d.fault, d.step, d.part) == ("step", 1, "action") and why in d.reason


def test_a_moving_step_that_finished_at_once_comes_before_the_step_that_failed():
    d = verdict((STILL, AT_ONCE), (UP, NEVER))
    assert (d.step, d.part) == (1, "check") and "finished at once" in d.reason


def test_all_steps_finished_without_success_blames_the_plan():
    d = verdict((UP, UP_DONE))
    assert d.fault == "plan" and "all steps ran" in d.reason


def test_errors_are_located_in_their_step_and_part():
    d = verdict(("x = [1][5]\n" + STILL, NEAR))
    assert (d.fault, d.step, d.part) == ("step", 1, "action") and "IndexError" in d.reason
    d = verdict((TO_TARGET, "if unknown_name > 0:\n    increment_current_step()"))
    assert (d.fault, d.step, d.part) == ("step", 1, "check") and "rejected" in d.reason


def test_a_gripper_that_runs_into_an_object_blames_the_plan_and_says_so():
    # The real simulator: closed fingers sent to the charger push it instead of arriving.
    from iteach_ros.teacher.validation import validate_policy

    plan = ["close the gripper", "move to the charger"]
    code = [StepCode(plan[0], "set_gripper(False)",
                     "if get_object('gripper').closed:\n    increment_current_step()"),
            StepCode(plan[1], "gripper = get_object('gripper')\ncharger = get_object('charger')\n"
                              "move_gripper(charger.position - gripper.position)",
                     "if np.linalg.norm(charger.position - gripper.position) < 0.02:\n"
                     "    increment_current_step()")]
    assembled = assemble("unplug charger by 20cm", ("charger", "wall outlet"), code)
    # Seed 11 fails; on most seeds the pressing fingers drag the plug out by friction.
    report = validate_policy(assembled.source, "unplug_charger", [11])
    d = diagnose(report, assembled, code)
    assert d.fault == "plan" and "ran into the charger" in d.reason and "closed" in d.reason
    assert "ran into the charger and pushed it with its fingers closed" in report.account(plan)


def test_a_gripper_sent_straight_to_a_point_it_cannot_reach_blames_the_plan():
    # The real simulator: the wall outlet's point lies in the wall; the gripper stops short.
    from iteach_ros.teacher.diagnosis import straight_to
    from iteach_ros.teacher.validation import validate_policy

    action = ("gripper = get_object('gripper')\noutlet = get_object('wall outlet')\n"
              "move_gripper(outlet.position - gripper.position)")
    code = [StepCode("move to the wall outlet", action,
                     "if np.linalg.norm(outlet.position - gripper.position) < 0.02:\n"
                     "    increment_current_step()")]
    assert straight_to(code[0]) == "wall outlet"
    assert straight_to(StepCode("up", UP, UP_DONE)) is None
    assembled = assemble("unplug charger by 20cm", ("charger", "wall outlet"), code)
    # Seed 11 fails; on most seeds the pressing fingers drag the plug out by friction.
    report = validate_policy(assembled.source, "unplug_charger", [11])
    d = diagnose(report, assembled, code)
    assert d.fault == "plan" and "stopped short of the wall outlet" in d.reason
