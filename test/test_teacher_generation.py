"""Generation, validation and repair with langchain's fake chat models.

``FakeListChatModel`` stands in for a remote LLM (it replays scripted answers in order); the
simulator is a tiny fake reach environment with the interface of ``iteach_ros.sim`` so these
tests are deterministic and fast.
"""

import time
from dataclasses import dataclass

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from pydantic import Field

from iteach_ros.core.state import ObjectState
from iteach_ros.teacher.generator import GenerationConfig, GenerationError, TeacherGenerator
from iteach_ros.teacher.validation import NoisyPolicy, noise_sweep, validate_policy


# ---- a tiny fake simulator with the iteach_ros.sim interface --------------------------------
@dataclass
class FakeObs:
    objects: dict


class FakeReachEnv:
    """Gripper moves 1 cm per unit action per axis; success within 2 cm of the target."""

    max_steps = 60

    def reset(self, seed=None):
        rng = np.random.default_rng(seed)
        self.gripper = np.array([0.3, 0.0, 0.4])
        self.target = self.gripper + rng.uniform(-0.15, 0.15, 3)
        self.t = 0
        return self._obs(), {"success": False}

    def _obs(self):
        return FakeObs({"gripper": ObjectState("gripper", self.gripper.copy()),
                        "target": ObjectState("target", self.target.copy())})

    def step(self, action):
        self.gripper = self.gripper + np.clip(action[:3], -1, 1) * 0.01 / 0.9
        self.t += 1
        success = bool(np.linalg.norm(self.gripper - self.target) < 0.02)
        truncated = self.t >= self.max_steps and not success
        info = {"success": success, "step": self.t, "infeasible": False,
                "failure_reason": "step_limit" if truncated else None}
        return self._obs(), 0.0, success, truncated, info

    def close(self):
        pass


OBJECTS = ["target"]
SEEDS = (0, 1, 2, 3)


def fake_validator(source, task, seeds):
    return validate_policy(source, task, seeds, env=FakeReachEnv(), object_names=OBJECTS)


class RecordingFake(FakeListChatModel):
    """FakeListChatModel that also keeps the prompts it was sent (stands in for a remote LLM)."""

    prompts: list = Field(default_factory=list)

    def _call(self, messages, stop=None, run_manager=None, **kwargs):
        self.prompts.append(messages)
        return super()._call(messages, stop=stop, run_manager=run_manager, **kwargs)


PLAN = '1. composer("move the gripper to the target")'
GOOD_ACTION = ("```python\ngripper = get_object('gripper')\ntarget = get_object('target')\n"
               "goal = target.position\nmove_gripper(goal - gripper.position)\n```")
WRONG_WAY_ACTION = ("```python\ngripper = get_object('gripper')\ntarget = get_object('target')\n"
                    "goal = target.position\nmove_gripper(gripper.position - goal)\n```")
CHECK = ("```python\nif np.linalg.norm(goal - gripper.position) < 0.02:\n"
         "    increment_current_step()\n```")


def generator(responses, **cfg):
    model = RecordingFake(responses=responses)
    config = GenerationConfig(seeds=SEEDS, **cfg)
    return TeacherGenerator(model, fake_validator, model_label="fake:test", config=config), model


def test_fake_env_and_validation_report():
    good = "g = get_object('gripper')\nmove_gripper(get_object('target').position - g.position)"
    rep = validate_policy(good, "reach", SEEDS, env=FakeReachEnv(), object_names=OBJECTS)
    assert rep.static_ok and rep.success_rate == 1.0 and len(rep.episodes) == len(SEEDS)
    bad = "move_gripper([0.0, 0.0, 0.5])"
    rep = validate_policy(bad, "reach", SEEDS, env=FakeReachEnv(), object_names=OBJECTS)
    assert rep.success_rate < 1.0
    fb = rep.feedback(["go"])
    assert "never finished step 1 ('go')" in fb and "gripper at" in fb
    assert "the gripper was open" in fb and "target 0.0 cm" in fb
    assert rep.episodes[0].moved_m["gripper"] > 0.01 and rep.failing_step() == 1
    rep = validate_policy("import os", "reach", SEEDS, env=FakeReachEnv(), object_names=OBJECTS)
    assert not rep.static_ok and rep.episodes == [] and "imports" in rep.feedback()
    crash = "x = [1][5]"
    rep = validate_policy(crash, "reach", SEEDS, env=FakeReachEnv(), object_names=OBJECTS)
    assert rep.success_rate == 0 and rep.episodes[0].error_kind == "runtime"
    assert "IndexError" in rep.feedback() and rep.episodes[0].error_lineno == 1


def test_happy_path_one_try():
    gen, model = generator([PLAN, GOOD_ACTION, CHECK])
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted and res.tries == 1 and res.llm_calls == 3
    assert res.best.success_rate == 1.0
    assert "move_gripper(goal - gripper.position)" in res.best.source
    assert "elif" not in res.best.source and "set_done()" in res.best.source
    # Prompt order: planner, action, check; the check prompt shows the action code.
    assert model.prompts[0][-1].content.startswith("Task: reach the target")
    assert "Step: move the gripper to the target" in model.prompts[1][-1].content
    assert "Motion code:" in model.prompts[2][-1].content
    prov = res.provenance()
    assert prov["model"] == "fake:test" and prov["tries"] == 1 and prov["accepted"]
    assert prov["validation"]["success_rate"] == 1.0 and prov["validation"]["seeds"] == [0, 1, 2, 3]
    assert len(prov["prompt_hash"]) == 64 and prov["plan"] == ["move the gripper to the target"]


def test_invalid_snippet_is_reasked_with_the_concrete_error():
    invented = "```python\nmove_to(get_object('target').position)\n```"
    gen, model = generator([PLAN, invented, GOOD_ACTION, CHECK])
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted and res.tries == 1 and res.llm_calls == 4
    retry_prompt = model.prompts[2][-1].content
    assert "unknown name 'move_to'" in retry_prompt and "move_to(get_object" in retry_prompt


def test_syntax_error_and_missing_increment_are_reasked():
    broken = "```python\nmove_gripper((get_object('target').position)\n```"
    no_increment = "```python\nif True:\n    pass\n```"
    gen, model = generator([PLAN, broken, GOOD_ACTION, no_increment, CHECK])
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted and res.llm_calls == 5
    assert "syntax error" in model.prompts[2][-1].content
    assert "must call increment_current_step()" in model.prompts[4][-1].content


def test_repair_loop_uses_rollout_feedback_and_keeps_best():
    # Try 1 moves away from the target (fails in every episode): the gripper keeps moving and
    # never arrives, so the motion of step 1 is regenerated, with the simulator's account and
    # the previous code; try 2 is correct.
    gen, model = generator([PLAN, WRONG_WAY_ACTION, CHECK, GOOD_ACTION])
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.tries == 2 and res.accepted
    assert [c.success_rate for c in res.candidates] == [0.0, 1.0]
    assert res.best.index == 2 and res.candidates[1].origin == "repair of #1 step 1 action"
    repair_prompt = model.prompts[3][-1].content
    assert "succeeded in 0 of 3" in repair_prompt  # the screening seeds only
    assert "never finished step 1" in repair_prompt
    assert "During that step the gripper travelled" in repair_prompt
    assert "gripper.position - goal" in repair_prompt  # previous code shown
    assert res.llm_calls == 4  # the check still fits the new motion: not asked again


def test_budget_exhausted_returns_best_unaccepted_candidate():
    half = ("```python\ngripper = get_object('gripper')\ntarget = get_object('target')\n"
            "goal = target.position\nif target.position[0] > 0.3:\n"
            "    move_gripper(goal - gripper.position)\n```")
    # try 1: some seeds succeed; try 2 (repair of step 1): none
    gen, _ = generator([PLAN, half, CHECK, WRONG_WAY_ACTION], max_tries=2)
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert not res.accepted and res.tries == 2 and res.stopped == "2 programs validated"
    rates = [c.success_rate for c in res.candidates]
    assert 0 < rates[0] < 1 and rates[1] == 0
    assert res.best.index == 1 and res.provenance()["best_try"] == 1


def test_all_steps_ran_without_success_blames_the_plan_and_revises_it():
    # The plan's only step sets the gripper and its check passes at once: the program
    # finishes, the task is not achieved, and no step that should move finished at once: the
    # plan is at fault. The next plan is a revision, given the simulator's account.
    lazy = "```python\nset_gripper(True)\n```"
    always = "```python\nif True:\n    increment_current_step()\n```"
    revised = '1. composer("go to the target")'
    gen, model = generator([PLAN, lazy, always, revised, GOOD_ACTION, CHECK], max_tries=4)
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted and res.tries == 2
    assert res.candidates[0].diagnosis.fault == "plan"
    assert res.candidates[1].origin == "revision of #1's plan"
    revision = model.prompts[3][-1].content
    assert revision.startswith("Task: reach the target")
    assert 'A previous plan was:\n1. composer("move the gripper to the target")' in revision
    assert ("In the simulator it succeeded in 0 of 3 episodes. It failed because: all steps "
            "ran but the task was not achieved.") in revision
    assert revision.endswith("Write a better plan.")


def test_a_moving_step_that_finished_at_once_gets_its_check_then_its_motion_repaired():
    # Both parts are wrong: a motion that does not move and a check that passes at once. Each
    # repair changes one part; a repair that is no worse carries the line on.
    still = ("```python\ntarget = get_object('target')\n"
             "move_gripper(0.0 * target.position)\n```")
    always = "```python\nif True:\n    increment_current_step()\n```"
    other = "```python\nif 1 > 0:\n    increment_current_step()\n```"
    gen, _ = generator([PLAN, still, always, other, GOOD_ACTION, CHECK], max_tries=6)
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted
    assert [c.origin for c in res.candidates] == [
        "plan (greedy)", "repair of #1 step 1 check", "repair of #2 step 1 action",
        "repair of #3 step 1 check"]
    assert "finished at once" in res.candidates[0].diagnosis.reason


def test_step_level_repair_keeps_the_steps_that_work():
    two = '1. composer("move the gripper 5cm up")\n2. composer("move the gripper to the target")'
    up = ("```python\ngripper = get_object('gripper')\n"
          "up = gripper.initial_position + np.array([0.0, 0.0, 0.05])\n"
          "move_gripper(up - gripper.position)\n```")
    never = ("```python\nif np.linalg.norm(up - gripper.position) < 0.0:\n"
             "    increment_current_step()\n```")
    up_check = ("```python\nif np.linalg.norm(up - gripper.position) < 0.02:\n"
                "    increment_current_step()\n```")
    gen, model = generator([two, up, GOOD_ACTION, never, CHECK, up_check], max_tries=3)
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted and res.tries == 2
    first, fixed = res.candidates
    assert first.diagnosis.step == 1 and first.diagnosis.part == "check"
    assert "came to rest" in first.diagnosis.reason
    assert fixed.origin == "repair of #1 step 1 check"
    assert fixed.steps[1] == first.steps[1] and fixed.steps[0].action == first.steps[0].action
    assert res.llm_calls == 6  # the repair asked only for step 1's check
    assert "Step: move the gripper 5cm up" in model.prompts[-1][-1].content


def test_screening_seeds_spare_a_hopeless_program_the_rest():
    calls = []

    def counting(source, task, seeds):
        calls.append(list(seeds))
        return fake_validator(source, task, seeds)

    model = RecordingFake(responses=[PLAN, WRONG_WAY_ACTION, CHECK, GOOD_ACTION])
    gen = TeacherGenerator(model, counting, config=GenerationConfig(seeds=(0, 1, 2, 3, 4, 5),
                                                                    screen_seeds=2))
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted and calls == [[0, 1], [0, 1], [2, 3, 4, 5]]
    assert len(res.candidates[0].report.episodes) == 2
    assert len(res.best.report.episodes) == 6 and res.best.report.seeds == [0, 1, 2, 3, 4, 5]


def test_time_budget_stops_the_search_and_keeps_the_best():
    gen, _ = generator([PLAN, GOOD_ACTION, CHECK], time_budget_s=1e-9)
    res = gen.generate("reach", "reach the target", OBJECTS)  # nothing within the budget
    assert res.best is None and res.tries == 0 and "time budget" in res.stopped

    def slow(source, task, seeds):
        time.sleep(0.3)
        return fake_validator(source, task, seeds)

    model = RecordingFake(responses=[PLAN, WRONG_WAY_ACTION, CHECK, GOOD_ACTION])
    gen = TeacherGenerator(model, slow, config=GenerationConfig(seeds=SEEDS, time_budget_s=0.2))
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.tries == 1 and not res.accepted and "time budget" in res.stopped
    assert res.best is res.candidates[0]


def test_grammars_and_sampling_reach_a_model_that_accepts_them():
    class GrammarFake(RecordingFake):
        accepts_grammar: bool = True
        kwargs_seen: list = Field(default_factory=list)

        @property
        def _llm_type(self):
            return "iteach-llama-cpp"

        def _call(self, messages, stop=None, run_manager=None, **kwargs):
            self.kwargs_seen.append(kwargs)
            return super()._call(messages, stop=stop, run_manager=run_manager, **kwargs)

    model = GrammarFake(responses=[PLAN, WRONG_WAY_ACTION, CHECK, GOOD_ACTION])
    gen = TeacherGenerator(model, fake_validator, config=GenerationConfig(seeds=SEEDS, seed=7))
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted
    seen = model.kwargs_seen
    assert "root ::=" in seen[0]["grammar"] and 'composer(' in seen[0]["grammar"]
    assert "move_gripper(" in seen[1]["grammar"] and "increment_current_step()" in seen[2][
        "grammar"]
    assert "temperature" not in seen[0]  # the first plan and first code are greedy
    assert seen[3]["temperature"] == 0.6 and seen[3]["seed"] == 7 + 3  # the repair is sampled
    prov = res.provenance()
    # the step "move to the target" decodes under grammars that offer only the target
    assert set(prov["grammar"]) >= {"plan-8", "action:target", "check:target"}
    assert prov["sampling"]["seed"] == 7
    assert [t["grammar"] for t in gen.transcript] == ["plan-8", "action:target",
                                                      "check:target", "action:target"]
    # langchain's other chat models get no grammar (and the provenance says so)
    gen, model = generator([PLAN, GOOD_ACTION, CHECK])
    assert gen.generate("reach", "reach the target", OBJECTS).provenance()["grammar"] is None


def test_unparsable_plan_is_reasked_then_gives_up():
    gen, model = generator(["I am a language model.", PLAN, GOOD_ACTION, CHECK])
    assert gen.generate("reach", "reach the target", OBJECTS).accepted
    assert "the plan has no steps" in model.prompts[1][-1].content
    gen, _ = generator(["no", "still no", "nope"], plan_tries=3)
    with pytest.raises(GenerationError, match="no parsable plan"):
        gen.generate("reach", "reach the target", OBJECTS)


def test_hostile_llm_output_never_runs():
    evil = "```python\n__import__('os').system('touch /tmp/iteach_pwned')\n```"
    gen, _ = generator([PLAN, evil, evil, evil, CHECK], max_tries=1, snippet_tries=3)
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert not res.accepted and res.best.report.static_error
    assert "'__import__'" in res.best.report.static_error


def test_noise_degrades_success():
    good = "g = get_object('gripper')\nmove_gripper(get_object('target').position - g.position)"
    rows = noise_sweep(good, "reach", range(8), [0.0, 0.2], env=FakeReachEnv(),
                       object_names=OBJECTS)
    assert rows[0]["success_rate"] == 1.0
    assert rows[1]["success_rate"] < rows[0]["success_rate"]


def test_noisy_policy_leaves_gripper_exact():
    class Echo:
        current_step = 1

        def reset(self):
            pass

        def step(self, objects):
            self.seen = objects
            return objects

    echo = Echo()
    objs = {"gripper": ObjectState("gripper", np.zeros(3)),
            "target": ObjectState("target", np.zeros(3))}
    NoisyPolicy(echo, 0.01, seed=1).step(objs)
    assert np.all(echo.seen["gripper"].position == 0)
    assert np.any(echo.seen["target"].position != 0)
    assert np.all(objs["target"].position == 0)  # the caller's states are not modified


def test_llm_failure_keeps_best_candidate_or_reports_clearly():
    class Flaky(RecordingFake):
        def _call(self, messages, stop=None, run_manager=None, **kwargs):
            if len(self.prompts) >= 3:
                raise ConnectionError("server went away")
            return super()._call(messages, stop=stop, run_manager=run_manager, **kwargs)

    model = Flaky(responses=[PLAN, WRONG_WAY_ACTION, CHECK])
    gen = TeacherGenerator(model, fake_validator, config=GenerationConfig(seeds=SEEDS))
    res = gen.generate("reach", "reach the target", OBJECTS)  # try 1 done, repair call fails
    assert res.tries == 1 and not res.accepted and res.best is not None
    model = Flaky(responses=[PLAN])
    model.prompts.extend([None, None, None])  # fail at once
    gen = TeacherGenerator(model, fake_validator, config=GenerationConfig(seeds=SEEDS))
    with pytest.raises(GenerationError, match="LLM request failed: ConnectionError"):
        gen.generate("reach", "reach the target", OBJECTS)


def test_forgotten_object_variable_is_bound_without_asking_again():
    action = ("```python\nmove_gripper(get_object('target').position - "
              "get_object('gripper').position)\n```")
    check = ("```python\nif np.linalg.norm(target.position - gripper.position) < 0.02:\n"
             "    increment_current_step()\n```")
    gen, _ = generator([PLAN, action, check])
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted and res.llm_calls == 3
    assert "gripper = get_object('gripper')" in res.best.source
    assert "target = get_object('target')" in res.best.source


def test_plan_mentioning_example_objects_is_reasked():
    stray = '1. composer("move the gripper to the target")\n2. composer("drop it on the plate")'
    gen, model = generator([stray, PLAN, GOOD_ACTION, CHECK])
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted and res.best.plan == ["move the gripper to the target"]
    assert "mentions 'plate', which this task does not have" in model.prompts[1][-1].content


def test_a_plan_that_leaves_out_the_task_object_is_not_tried_but_asked_for_again():
    off = '1. composer("open the gripper")'
    gen, model = generator([off, off, off, PLAN, GOOD_ACTION, CHECK])
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted and res.tries == 1  # the off-task plan was never simulated
    assert res.candidates[0].plan == ["move the gripper to the target"]
    assert "the task is about the target, which no step mentions" in model.prompts[1][-1].content


def test_a_plan_that_grasps_where_the_gripper_is_not_is_asked_for_again_not_simulated():
    grasp = '1. composer("open the gripper")\n2. composer("close the gripper on the target")'
    gen, model = generator([grasp, grasp, grasp, PLAN, GOOD_ACTION, CHECK])
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted and res.tries == 1  # the impossible grasp was never simulated
    assert res.candidates[0].plan == ["move the gripper to the target"]
    assert ("the gripper closes on the target in step 2 but never moved to it"
            in model.prompts[1][-1].content)


def test_a_plan_moving_an_object_the_wrong_way_is_asked_for_again_not_simulated(monkeypatch):
    # The fake task's condition, as a pulled-out charger's: the target moved along its normal.
    monkeypatch.setattr("iteach_ros.teacher.generator.required_directions",
                        lambda task: [("target", "along its normal")])
    wrong = '1. composer("move the target 5cm against its normal")'
    gen, model = generator([wrong, wrong, wrong, PLAN, GOOD_ACTION, CHECK])
    res = gen.generate("reach", "reach the target", OBJECTS)
    assert res.accepted and res.tries == 1  # the wrong-way plan was never simulated
    assert ("the task needs the target moved along its normal, but step 1 moves it against "
            "its normal" in model.prompts[1][-1].content)
