"""CodePolicy generation by plan search: hierarchical prompting, validation in the simulator,
step-level repair (ROS-free).

The paper's scheme: a planner prompt turns the task description and object names into numbered
``composer("...")`` steps; for each step an action prompt writes the motion code and a check
prompt the completion test; the pieces are assembled into one CodePolicy (a state machine over
``current_step``). Added here because generated code is untrusted and small models err:

- every snippet is parsed and checked against the sandbox's whitelist and the task's object
  names as soon as it is written, and re-asked with the concrete problem (``snippet_tries``);
  local models decode under GBNF grammars (``grammar``) that admit only the API's names;
- every assembled program is validated open loop in the simulator (a few screening seeds
  first, the rest only when one of those succeeds);
- a failed program is diagnosed from the simulator's per-step account (``diagnosis``): one
  step's motion or check is regenerated with that account and the program validated again
  (steps that work are kept), or the plan is blamed and a new plan comes from the planner:
  alternately a revision of the best failed plan (given what the simulator saw: which steps
  finished, how the others got stuck, which success condition failed) and a fresh sample at
  ``plan_temperature`` (the first plan is greedy);
- steps that worked are kept in a bank by instruction and reused when another plan asks for
  the same step;
- the search stops at the first program that succeeds in ``accept_rate`` of the seeds, after
  ``max_tries`` programs, or when ``time_budget_s`` is spent; the best program is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from iteach_ros.codepolicy.sandbox import validate_source
from iteach_ros.teacher.answers import (
    DIRECTION_PROBLEM,
    GRASP_PROBLEM,
    OFF_TASK,
    bind_missing_objects,
    clean_snippet,
    closed_to_gripped,
    extract_code,
    gripper_state_problems,
    lint_snippet,
    object_problems,
    parse_plan,
    plan_problems,
    step_objects,
)
from iteach_ros.teacher.conditions import required_directions
from iteach_ros.teacher.diagnosis import ACTION, CHECK, Diagnosis
from iteach_ros.teacher.generation import (
    BudgetSpent,
    Candidate,
    GenerationConfig,
    GenerationError,
    GenerationResult,
)
from iteach_ros.teacher.grammar import Grammar, action_grammar, check_grammar, plan_grammar
from iteach_ros.teacher.plan_search import PlanSearch
from iteach_ros.teacher.prompting import PromptLibrary, StepCode
from iteach_ros.teacher.report import ValidationReport

# Read from here by the CLI, the service and the tests.
__all__ = ["BudgetSpent", "Candidate", "GenerationConfig", "GenerationError", "GenerationResult",
           "TeacherGenerator"]

RETRY_TEMPERATURE_CAP = 1.2
Validator = Callable[[str, str, Sequence[int]], ValidationReport]


class TeacherGenerator:
    """Writes a task's CodePolicy with a langchain chat model, validating and repairing it."""

    def __init__(self, chat_model: BaseChatModel, validator: Validator, *,
                 model_label: str = "", library: PromptLibrary | None = None,
                 config: GenerationConfig | None = None,
                 progress: Callable[[str], None] | None = None,
                 on_exchange: Callable[[dict], None] | None = None):
        self.model = chat_model
        self.validator = validator
        self.model_label = model_label or getattr(chat_model, "_llm_type", "chat-model")
        self.library = library or PromptLibrary.load()
        self.config = config or GenerationConfig()
        self.progress = progress or (lambda message: None)
        self.transcript: list[dict] = []  # every request's last message and the answer
        self.on_exchange = on_exchange  # called with each exchange as it happens
        self._calls = 0
        self._llm_seconds = 0.0
        self._deadline: float | None = None
        self._grammars: dict[str, Grammar] = {}
        self._graspable: list[str] | None = None
        self._directions: list[tuple[str, str]] = []

    # ---- LLM access -----------------------------------------------------------------------------
    @property
    def uses_grammar(self) -> bool:
        return self.config.grammar and bool(getattr(self.model, "accepts_grammar", False))

    def _ask(self, messages: list[BaseMessage], temperature: float = 0.0,
             grammar: str = "") -> str:
        if self._deadline is not None and time.perf_counter() > self._deadline:
            raise BudgetSpent("the time budget is spent")
        model, extra = self.model, {}
        seed = self.config.seed + self._calls
        kind = getattr(model, "_llm_type", "")
        if temperature > 0 and kind in ("iteach-llama-cpp", "openai-chat"):
            extra["temperature"] = temperature
            extra["seed"] = seed
        if grammar and self.uses_grammar:
            extra["grammar"] = self._grammars[grammar].text
        if extra:
            model = model.bind(**extra)
        t0 = time.perf_counter()
        try:
            answer = model.invoke(messages)
        except Exception as exc:  # noqa: BLE001 - network, server, model-loading errors
            raise GenerationError(f"LLM request failed: {type(exc).__name__}: {exc}") from exc
        seconds = time.perf_counter() - t0
        self._llm_seconds += seconds
        self._calls += 1
        content = answer.content
        if isinstance(content, list):  # some providers return content blocks
            content = "".join(c.get("text", "") if isinstance(c, dict) else str(c)
                              for c in content)
        exchange = {"request": str(messages[-1].content), "answer": str(content),
                    "seconds": round(seconds, 2), "temperature": extra.get("temperature", 0.0),
                    "seed": extra.get("seed"), "grammar": grammar if "grammar" in extra else None}
        self.transcript.append(exchange)
        if self.on_exchange is not None:
            self.on_exchange(exchange)
        return str(content)

    def _retry_temperature(self, temperature: float, attempt: int) -> float:
        """Re-asked answers are sampled hotter each time: a small model at a low temperature
        tends to give the refused answer again."""
        if attempt == 0:
            return temperature
        return min(max(temperature, self.config.repair_temperature) + 0.3 * (attempt - 1),
                   RETRY_TEMPERATURE_CAP)

    # ---- the hierarchy -----------------------------------------------------------------------
    def plan(self, lib: PromptLibrary, description: str, objects, feedback: str = "",
             temperature: float = 0.0, tried: set | None = None,
             max_steps: int | None = None) -> list[str] | None:
        """A parsable plan not in ``tried`` (None when every answer repeated a tried plan or
        left out what the task is about); ``plan_problems`` are re-asked with the problem, and
        the last parsable plan is kept when they persist, unless it never names an object the
        task names, grasps where the gripper is not or moves an object the wrong way (none
        is worth its code and a simulation: another plan is asked for instead).
        ``max_steps``: a shorter limit than the configuration's."""
        note, fallback, repeated, off_task = feedback, None, False, False
        limit = min(max_steps or self.config.max_plan_steps, self.config.max_plan_steps)
        grammar = self._plan_grammar(objects, lib, limit)
        # Objects of the few-shot examples that this task does not have (a small model copies
        # them: "move the microwave above the plate"); the plan grammar rules them out.
        foreign = sorted({o for e in lib.examples for o in e.objects} - set(objects))
        for attempt in range(self.config.plan_tries):
            text = self._ask(lib.planner_messages(description, objects, note, self._graspable),
                             self._retry_temperature(temperature, attempt), grammar=grammar)
            try:
                steps = parse_plan(text, limit)
            except ValueError as exc:
                problems = [str(exc)]
            else:
                if tried is not None and tuple(steps) in tried:
                    repeated = True
                    self.progress(f"plan attempt {attempt + 1}: a plan tried before")
                    continue
                problems = plan_problems(steps, description, objects, foreign, self._graspable,
                                         self._directions)
                if not problems:
                    self.progress("plan: " + " | ".join(f"{i}. {s}"
                                                        for i, s in enumerate(steps, 1)))
                    return steps
                if any(p.startswith((OFF_TASK, GRASP_PROBLEM, DIRECTION_PROBLEM))
                       for p in problems):
                    off_task = True
                else:
                    fallback = steps
            problem = "; ".join(problems)
            note = (f"{feedback}\nYour previous answer was:\n{text.strip()[:400]}\n"
                    f"Problem: {problem}.").strip()
            self.progress(f"plan attempt {attempt + 1}: {problem}")
        if fallback is not None:  # parsable; its snippets will be checked against the objects
            self.progress("plan (problems kept): " + " | ".join(fallback))
            return fallback
        if repeated or off_task:
            return None
        raise GenerationError(f"no parsable plan after {self.config.plan_tries} answers")

    def _plan_grammar(self, objects, lib: PromptLibrary, max_steps: int) -> str:
        key = f"plan-{max_steps}"
        if key not in self._grammars:
            self._grammars[key] = plan_grammar(objects, lib.plan_steps, max_steps,
                                               self._graspable)
        return key

    def write_snippet(self, lib: PromptLibrary, role: str, objects, instruction: str,
                      action_code: str = "", feedback: str = "", refused: Sequence[str] = (),
                      temperature: float = 0.0) -> str:
        """One action or check snippet that passes the static checks (or the last attempt).

        refused: code that failed validation before; the same answer again counts as a problem.
        """
        note, code = feedback, "pass"
        grammar = self._snippet_grammar(role, objects, instruction)
        for attempt in range(self.config.snippet_tries):
            if role == ACTION:
                msgs = lib.action_messages(objects, instruction, note)
            else:
                msgs = lib.check_messages(objects, instruction, action_code, note)
            answer = self._ask(msgs, self._retry_temperature(temperature, attempt),
                               grammar=grammar)
            context = action_code if role == CHECK else ""
            code = closed_to_gripped(bind_missing_objects(
                clean_snippet(extract_code(answer), role), objects, context), context)
            problems = self.snippet_problems(role, code, objects, action_code, instruction)
            if any(code.strip() == r.strip() for r in refused):
                problems.append("this is the same code as before, which failed; change it")
            if not problems:
                return code
            self.progress(f"  {role} for '{instruction}' attempt {attempt + 1}: "
                          + "; ".join(problems))
            note = (f"{feedback}\nYour previous answer was:\n```python\n{code}\n```\n"
                    f"It has these problems: {'; '.join(problems)}\n"
                    "Write the corrected code.").strip()
        return code

    def _snippet_grammar(self, role: str, objects, instruction: str) -> str:
        """The grammar key for a step's action or check: get_object and the variable names
        limited to the objects the instruction names (all when it names none)."""
        focus = step_objects(instruction, objects)
        key = role if not focus else f"{role}:{','.join(focus)}"
        if key not in self._grammars:
            build = action_grammar if role == ACTION else check_grammar
            self._grammars[key] = build(objects, focus)
        return key

    @staticmethod
    def snippet_problems(role: str, code: str, objects, action_code: str = "",
                         instruction: str = "") -> list[str]:
        full = code if role == ACTION else f"{action_code}\n{code}"
        offset = 0 if role == ACTION else len(action_code.splitlines())
        problems = [f"line {i.lineno - offset}: {i.message}" if i.lineno > offset else i.message
                    for i in validate_source(full, objects)]
        if not problems:
            problems += lint_snippet(code, action_code if role == CHECK else "")
        if not problems and instruction:
            problems += object_problems(code, step_objects(instruction, objects), objects,
                                        action_code if role == CHECK else "")
        if not problems and role == CHECK:
            problems += gripper_state_problems(code, action_code)
        if role == CHECK and "increment_current_step" not in code:
            problems.append("the check must call increment_current_step() when the step is done")
        if role == ACTION and not any(k in code for k in ("move_gripper", "set_gripper")):
            problems.append("the motion code must call move_gripper(...) or set_gripper(...)")
        return problems

    def write_steps(self, lib: PromptLibrary, objects, plan: list[str],
                    bank: dict[str, StepCode]) -> list[StepCode]:
        """Code for every step of a plan: steps the bank knows are reused; the others get every
        action, then every check (consecutive prompts of one kind share their few-shot prefix,
        which a local model evaluates once)."""
        actions: dict[int, str] = {}
        for k, instruction in enumerate(plan, 1):
            if instruction not in bank and instruction not in plan[:k - 1]:
                self.progress(f"  motion code for step {k}/{len(plan)}: {instruction}")
                actions[k] = self.write_snippet(lib, ACTION, objects, instruction)
        checks: dict[int, str] = {}
        for k, action in actions.items():
            self.progress(f"  check for step {k}/{len(plan)}")
            checks[k] = self.write_snippet(lib, CHECK, objects, plan[k - 1], action)
        written = {plan[k - 1]: StepCode(plan[k - 1], actions[k], checks[k]) for k in actions}
        return [bank.get(s) or written[s] for s in plan]

    def repair_step(self, lib: PromptLibrary, objects, cand: Candidate, diag: Diagnosis,
                    refused: dict[str, set[str]]) -> list[StepCode] | None:
        """The candidate's steps with step ``diag.step`` regenerated (its ``diag.part``; the
        check too when a new motion leaves the old check unusable); None when no answer
        passed the static checks."""
        k = diag.step
        old = cand.steps[k - 1]
        account = cand.report.feedback(cand.plan, step=k)
        temp = self.config.repair_temperature
        action, check = old.action, old.check
        if diag.part == ACTION:
            note = (f"Previous code for this step:\n```python\n{old.action}\n```\n{account}\n"
                    "Write better motion code.")
            action = self.write_snippet(lib, ACTION, objects, old.instruction, feedback=note,
                                        refused=[old.action, *refused.get(f"a:{old.instruction}",
                                                                          ())],
                                        temperature=temp)
            if self.snippet_problems(CHECK, check, objects, action, old.instruction):
                check = self.write_snippet(lib, CHECK, objects, old.instruction, action,
                                           temperature=temp)
        else:
            note = (f"Previous check for this step:\n```python\n{old.check}\n```\n{account}\n"
                    "Write a better check.")
            check = self.write_snippet(lib, CHECK, objects, old.instruction, action, note,
                                       refused=[old.check, *refused.get(f"c:{old.instruction}",
                                                                        ())],
                                       temperature=temp)
        if (self.snippet_problems(ACTION, action, objects, instruction=old.instruction)
                or self.snippet_problems(CHECK, check, objects, action, old.instruction)):
            return None
        steps = list(cand.steps)
        steps[k - 1] = StepCode(old.instruction, action, check)
        return steps

    # ---- validation ------------------------------------------------------------------------
    def _validate(self, source: str, task: str) -> ValidationReport:
        """Screening seeds first; the rest only when one of those succeeded."""
        seeds = self.config.seeds
        head, rest = seeds[:self.config.screen_seeds], seeds[self.config.screen_seeds:]
        report = self.validator(source, task, head)
        if rest and report.static_ok and report.successes:
            more = self.validator(source, task, rest)
            report.episodes.extend(more.episodes)
            report.seeds = list(seeds)
        return report

    # ---- the search --------------------------------------------------------------------------
    def generate(self, task: str, description: str, object_names: Sequence[str],
                 graspable: Sequence[str] | None = None) -> GenerationResult:
        """``graspable``: the objects the fingers can hold (the API's ``can_be_gripped``); the
        planner is told them, and its grammar lets it close the gripper only on them (None:
        not known, not said)."""
        self._graspable = None if graspable is None else list(graspable)
        self._directions = required_directions(task)
        return PlanSearch(self, task, description, list(object_names)).run()
