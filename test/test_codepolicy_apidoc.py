"""The object attributes: one table in code, docs/simulator.md and the LLM's API text in step
with it, and every attribute readable by programs in every executor."""

import numpy as np
import pytest

from iteach_ros.codepolicy import apidoc
from iteach_ros.codepolicy.fastexec import FastExecutor
from iteach_ros.codepolicy.runtime import (
    OBJECT_ATTRIBUTE_NAMES,
    CodePolicyExecutor,
    ObjectState,
    ObjectView,
)
from iteach_ros.codepolicy.sandbox import ATTRIBUTE_NAMES, SandboxedPolicy
from iteach_ros.teacher.prompting import PromptLibrary


def test_the_doc_and_api_text_are_generated_from_the_table():
    assert apidoc.main(["--check"]) == 0, "run: python -m iteach_ros.codepolicy.apidoc"
    doc = apidoc.DOC.read_text(encoding="utf-8")
    for name in OBJECT_ATTRIBUTE_NAMES:
        assert f"| `{name}` |" in doc
    assert apidoc.api_text().strip() in PromptLibrary.load().api  # what the LLM is sent


def test_rendering_replaces_the_old_block_and_names_a_missing_one():
    stale = f"intro\n{apidoc.TABLE_BEGIN}\n| old |\n{apidoc.TABLE_END}\noutro\n"
    out = apidoc.with_doc_table(stale)
    assert "| old |" not in out and out.startswith("intro\n") and out.endswith("\noutro\n")
    assert apidoc.with_doc_table(out) == out
    with pytest.raises(ValueError, match="object-attributes"):
        apidoc.with_doc_table("no markers here")
    api = apidoc.with_api_block("The robot is an arm.\n" + apidoc.API_HEADER + "\n- old\n")
    assert api == "The robot is an arm.\n" + apidoc.api_text()


def test_every_attribute_is_whitelisted_and_on_the_view():
    assert set(OBJECT_ATTRIBUTE_NAMES) <= ATTRIBUTE_NAMES
    assert set(ObjectView.__slots__) == set(OBJECT_ATTRIBUTE_NAMES)


PROGRAM = """
g = get_object('gripper')
b = get_object('button')
if (g.gripped and g.closed and len(g.joint_positions) == 7 and b.joint_positions is None
        and abs(np.linalg.norm(b.quaternion) - 1.0) < 1e-6 and g.quaternion[3] == 0.0):
    move_gripper(np.array([g.joint_positions[0], b.quaternion[2], -g.normal[2]]))
"""


def test_quaternion_and_joint_positions_read_the_same_in_every_executor():
    objects = {
        "gripper": ObjectState("gripper", np.zeros(3), np.array([0.0, 0.0, 1.0]), gripped=True,
                               closed=True, quaternion=np.array([1.0, 0.0, 0.0, 0.0]),
                               joint_positions=np.array([0.5, 0, 0, -2.0, 0, 1.5, 0.8])),
        "button": ObjectState("button", np.ones(3),
                              quaternion=np.array([0.0, 0.0, 0.38268343, 0.92387953])),
    }
    actions = [make(PROGRAM).step(objects).action.tolist()
               for make in (CodePolicyExecutor, FastExecutor,
                            lambda src: SandboxedPolicy(src, ["button"]))]
    assert actions == [[0.9, 0.9, -0.9, -0.9]] * 3  # the gripper stays closed
