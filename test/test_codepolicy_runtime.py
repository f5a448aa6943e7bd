"""The CodePolicy executor: the paper's API semantics and the teacher-action reduction."""

import numpy as np
import pytest

from iteach_ros.codepolicy.runtime import (
    CodePolicyError,
    CodePolicyExecutor,
    ObjectState,
    reduce_translation,
)

PROGRAM = """
if current_step == 1:
    target = get_object('Button').position + np.array([0.0, 0.0, 0.05])
    move_gripper(target - get_object('gripper').position)
    if get_object('gripper').position[2] < 0.9:
        increment_current_step()
elif current_step == 2:
    set_gripper(False)
    move_gripper(gripper_default_position - get_object('gripper').position)
    if get_object('button').initial_position[2] < 0.5:
        increment_current_step()
else:
    set_done()
"""


def scene(gripper_xyz, button_xyz, closed=False):
    return {
        "gripper": ObjectState("gripper", np.array(gripper_xyz, float), closed=closed),
        "button": ObjectState("button", np.array(button_xyz, float)),
    }


def test_reduction_is_sign_times_0_9_with_1cm_dead_band():
    out = reduce_translation(np.array([0.05, -0.0099, -0.011]))
    assert out.tolist() == [0.9, 0.0, -0.9]


def test_state_machine_and_initial_positions():
    ex = CodePolicyExecutor(PROGRAM)
    first = ex.step(scene([0.0, 0.0, 1.0], [0.2, 0.0, 0.8]))
    # towards (0.2, 0, 0.85): +x, no y, -z; gripper untouched and open -> +0.9
    assert first.action.tolist() == [0.9, 0.0, -0.9, 0.9]
    assert first.current_step == 1 and not first.done
    # arrive: the step advances and initial positions are refreshed to this step's states
    second = ex.step(scene([0.2, 0.0, 0.85], [0.2, 0.0, 0.45]))
    assert second.current_step == 2
    third = ex.step(scene([0.2, 0.0, 0.85], [0.2, 0.0, 0.45]))
    # initial_position of the button is now 0.45 (< 0.5), gripper_default_position is the
    # episode's start 0.3 m lower: (0, 0, 0.7) -> -x, -z; close -> -0.9
    assert third.action.tolist() == [-0.9, 0.0, -0.9, -0.9] and third.current_step == 3
    assert ex.step(scene([0.2, 0.0, 0.85], [0.2, 0.0, 0.45])).done
    ex.reset()
    assert ex.step(scene([0.0, 0.0, 1.0], [0.2, 0.0, 0.8])).current_step == 1


@pytest.mark.parametrize("source, message", [
    ("get_object('toaster')", "no such object"),
    ("move_gripper([1.0, 2.0])", "finite 3-vector"),
    ("move_gripper([float('nan'), 0, 0])", "finite 3-vector"),
])
def test_api_misuse_is_a_clear_error(source, message):
    with pytest.raises(CodePolicyError, match=message):
        CodePolicyExecutor(source).step(scene([0, 0, 1], [0, 0, 0.5]))


@pytest.mark.parametrize("executor", ["contract", "fast", "sandbox"])
def test_gripper_keeps_the_last_request_while_fingers_close(executor):
    from iteach_ros.codepolicy.fastexec import FastExecutor
    from iteach_ros.codepolicy.sandbox import SandboxedPolicy

    make = {"contract": CodePolicyExecutor, "fast": FastExecutor,
            "sandbox": SandboxedPolicy}[executor]
    ex = make("""
if current_step == 1:
    set_gripper(False)
    increment_current_step()
""")
    assert ex.step(scene([0, 0, 1], [0, 0, 0.5], closed=False)).action[3] == -0.9
    # the fingers are still closing (closed=False) and the program no longer asks: keep closed
    assert ex.step(scene([0, 0, 1], [0, 0, 0.5], closed=False)).action[3] == -0.9
    ex.reset()  # a new episode forgets the request and reads the gripper again
    assert ex.step(scene([0, 0, 1], [0, 0, 0.5], closed=False)).action[3] == -0.9  # asks again
    assert make("pass").step(scene([0, 0, 1], [0, 0, 0.5])).action[3] == 0.9
