"""GBNF grammars for the planner, action and check answers (iteach_ros.teacher.grammar).

The grammar texts are checked here without a model; where the offline model file is installed
(scripts/setup_local_llm.sh), llama.cpp's own grammar engine (vocabulary only, no weights run)
parses each grammar and must accept every few-shot answer of the prompt library, token by token.
"""

import pytest

from iteach_ros.sim import TASKS
from iteach_ros.teacher.answers import lint_snippet, object_problems, step_objects
from iteach_ros.teacher.grammar import (
    BOOLEAN_ATTRIBUTES,
    VECTOR_ATTRIBUTES,
    action_grammar,
    check_grammar,
    plan_grammar,
)
from iteach_ros.teacher.llm import LLMConfig, offline_available
from iteach_ros.teacher.prompting import PromptLibrary, _fence

OK, WHY = offline_available(LLMConfig())


@pytest.fixture(scope="module")
def lib():
    return PromptLibrary.load()


def test_attribute_sets_come_from_the_attribute_table():
    assert VECTOR_ATTRIBUTES == ("position", "initial_position", "normal")
    assert set(BOOLEAN_ATTRIBUTES) == {"gripped", "can_be_gripped", "closed"}


def test_grammar_texts_name_only_the_task_and_the_api(lib):
    objects = TASKS["unplug_charger"].object_names
    plan = plan_grammar(objects, lib.plan_steps, 3).text
    assert '"wall outlet"' in plan and '"charger"' in plan
    assert '"plate"' not in plan and '"cube"' not in plan  # example objects are not words
    assert plan.count("composer(") == 3 and '"against its normal"' in plan
    action = action_grammar(objects).text
    assert "\"'wall outlet'\"" in action and "\"'gripper'\"" in action
    assert '"move_gripper("' in action and "increment_current_step" not in action
    assert '"-"? "0" ("."' in action  # numbers below 1 m: a '20' for 20 cm cannot be written
    check = check_grammar(objects).text
    assert '"if "' in check and "increment_current_step()" in check
    assert plan_grammar(objects, lib.plan_steps, 3).digest != plan_grammar(
        objects, lib.plan_steps, 4).digest
    with pytest.raises(ValueError):
        plan_grammar(objects, lib.plan_steps, 0)


@pytest.fixture(scope="module")
def vocab():
    if not OK:
        pytest.skip(f"offline model unavailable: {WHY}")
    from llama_cpp import Llama

    return Llama(model_path=LLMConfig().model_path, vocab_only=True, verbose=False)


def test_llama_cpp_parses_the_grammars_and_accepts_every_few_shot_answer(lib, vocab):
    from iteach_ros.teacher.llm import grammar_problem, grammar_rejects

    for e in lib.examples:
        plan = "\n".join(f'{i}. composer("{s.instruction}")' for i, s in enumerate(e.steps, 1))
        for g in (plan_grammar(e.objects, lib.plan_steps, 8).text,
                  plan_grammar(e.objects, lib.plan_steps, 8, e.graspable).text):
            assert grammar_problem(vocab, g) is None
            assert grammar_rejects(vocab, g, plan) is None, e.task
        for s in e.steps:
            focus = step_objects(s.instruction, e.objects)
            for f in ((), focus):
                assert grammar_rejects(vocab, action_grammar(e.objects, f).text,
                                       _fence(s.action)) is None, s.instruction
                assert grammar_rejects(vocab, check_grammar(e.objects, f).text,
                                       _fence(s.check)) is None, s.instruction


def test_llama_cpp_refuses_what_the_grammars_leave_out(vocab):
    from iteach_ros.teacher.llm import grammar_problem, grammar_rejects

    objects = ("lid",)
    action = action_grammar(objects).text
    assert "refused" in grammar_rejects(vocab, action, "```python\nimport os\n```")
    assert grammar_rejects(vocab, action, "```python\nmove_to(get_object('lid'))\n```")
    assert grammar_rejects(vocab, action, "```python\ngoal = get_object('plate').position\n```")
    assert grammar_rejects(vocab, action, "```python\ngoal = lid.position + np.array("
                                          "[0.0, 0.0, 20.0])\n```")  # centimetres as metres
    assert grammar_rejects(vocab, action, "```python\ngoal = lid.position + np.array("
                                          "[0.0, 0.0, 1.0])\n```")  # 1 m for 10 cm
    assert grammar_rejects(vocab, action, "```python\nmove_gripper(goal.position)\n```")
    assert grammar_rejects(vocab, check_grammar(objects).text,
                           "```python\nif lid.quaternion[0] > 0:\n"
                           "    increment_current_step()\n```")
    plan = plan_grammar(objects, PromptLibrary.load().plan_steps, 2).text
    assert grammar_rejects(vocab, plan, '1. composer("move to the plate")')
    assert "may not end" in grammar_rejects(vocab, plan, '1. composer("move to the lid"')
    assert grammar_rejects(vocab, plan, '1. composer("until the lid is normal")')
    held = plan_grammar(("charger", "wall outlet"), PromptLibrary.load().plan_steps, 2,
                        ["charger"]).text
    assert grammar_rejects(vocab, held, '1. composer("close the gripper on the wall outlet")')
    assert grammar_rejects(vocab, held, '1. composer("close the gripper on the charger")') is None
    # a step about the charger cannot get the wall outlet, nor bind an API name as a variable
    focused = action_grammar(("charger", "wall outlet"), ["charger"]).text
    assert grammar_rejects(vocab, focused, "```python\nw = get_object('wall outlet')\n```")
    assert grammar_rejects(vocab, focused, "```python\nwhile = get_object('charger')\n```")
    assert grammar_rejects(vocab, focused, "```python\ncharger = get_object('charger')\n"
                                           "move_gripper(charger.position - gripper.position)"
                                           "\n```") is None
    assert grammar_problem(vocab, "root ::= (") is not None


def test_lint_catches_what_the_sandbox_allows_but_never_makes_sense():
    assert lint_snippet("move_gripper(lid.position - lid.position)") == [
        "line 1: lid.position - lid.position is always zero"]
    check = "if get_object('lid').closed:\n    increment_current_step()"
    assert "is always False: .closed is meaningful for the gripper only" in lint_snippet(check)[0]
    context = "gripper = get_object('gripper')\nlid = get_object('lid')"
    assert "gripper.can_be_gripped is always False" in lint_snippet(
        "if gripper.can_be_gripped:\n    increment_current_step()", context)[0]
    fine = "if gripper.closed and lid.gripped and lid.can_be_gripped:\n    increment_current_step()"
    assert lint_snippet(fine, context) == []
    assert lint_snippet("move_gripper((") == []  # syntax errors are the sandbox's to report


def test_a_step_works_on_the_objects_it_names():
    objects = ("microwave", "microwave door")
    assert step_objects("push the microwave door 30cm against its normal", objects) == [
        "microwave door"]
    assert step_objects("open the gripper", objects) == []
    wrong = ("w = get_object('wall outlet')\ng = get_object('gripper')\n"
             "move_gripper(w.position - g.position)")
    problems = object_problems(wrong, ["charger"], ("charger", "wall outlet"))
    assert "uses the wall outlet" in problems[0] and "get_object('charger')" in problems[1]
    assert object_problems("set_gripper(False)", ["charger"], ("charger", "wall outlet")) == []


def test_the_planner_is_told_what_can_be_picked_up():
    from iteach_ros.teacher.answers import plan_problems

    lib = PromptLibrary.load()
    msgs = lib.planner_messages("drop the rubbish into the bin", ["rubbish", "bin"],
                                graspable=["rubbish"])
    assert msgs[-1].content.endswith("Can be picked up: ['rubbish']")
    assert "Can be picked up: ['cube']" in msgs[1].content  # the examples say it too
    assert "Can be picked up" not in lib.planner_messages("x", ["bin"])[-1].content
    problems = plan_problems(["move to the bin", "close the gripper on the bin"],
                             "drop the rubbish into the bin", ["rubbish", "bin"],
                             graspable=["rubbish"])
    assert any("the bin cannot be picked up" in p for p in problems)
