"""Hierarchical CodePolicy generation with validation and repair (ROS-free).

Paper's scheme: a planner prompt turns the task description and object names into numbered
``composer("...")`` steps; for each step an action prompt writes the motion code and a check
prompt the completion test; the pieces are assembled into one CodePolicy (a state machine over
``current_step``). Added here because generated code is untrusted and small models err:

1. every snippet is parsed and checked against the sandbox's whitelist and the task's object
   names as soon as it is written, and re-asked with the concrete problem (``snippet_tries``);
2. the assembled program is validated open loop in the simulator on seeded episodes; when the
   success rate is below ``accept_rate`` the failing step (from the error's line, the step
   most episodes ended in, or the last step when all steps ran but the task was not achieved)
   is re-prompted with the validation feedback; after two failed repairs of one step the task
   is re-planned (sampled at the retry temperature); up to ``max_tries`` candidates, the best
   one is kept.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from iteach_ros.codepolicy.sandbox import validate_source
from iteach_ros.teacher.prompting import (
    AssembledPolicy,
    PromptLibrary,
    StepCode,
    assemble,
    bind_missing_objects,
    clean_snippet,
    extract_code,
    parse_plan,
)
from iteach_ros.teacher.validation import ValidationReport

GENERATOR_VERSION = "iteach_ros.teacher/hierarchical-1"
Validator = Callable[[str, str, Sequence[int]], ValidationReport]


@dataclass
class GenerationConfig:
    """Budget and acceptance of one generation.

    max_tries: assembled candidates validated in the simulator (the paper's 'tries').
    snippet_tries: answers asked for one snippet until it passes the static checks.
    plan_tries: answers asked for the plan until it parses.
    seeds: validation episodes' seeds (open loop).
    accept_rate: success rate at which a candidate is accepted.
    holdout: leave out the few-shot examples related to the task (uncovered-task generation).
    retry_temperature: temperature for re-asked answers (providers that accept it per call).
    max_plan_steps: longest plan kept.
    """

    max_tries: int = 8
    snippet_tries: int = 3
    plan_tries: int = 3
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    accept_rate: float = 0.8
    holdout: bool = False
    retry_temperature: float = 0.4
    max_plan_steps: int = 8

    def __post_init__(self):
        for name in ("max_tries", "snippet_tries", "plan_tries", "max_plan_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GenerationConfig.{name} must be >= 1")
        if not 0.0 < self.accept_rate <= 1.0:
            raise ValueError(f"GenerationConfig.accept_rate must be in (0, 1], "
                             f"got {self.accept_rate}")
        if not self.seeds:
            raise ValueError("GenerationConfig.seeds must not be empty")
        self.seeds = tuple(int(s) for s in self.seeds)


@dataclass
class Candidate:
    index: int  # 1-based try number
    plan: list[str]
    steps: list[StepCode]
    assembled: AssembledPolicy
    report: ValidationReport

    @property
    def source(self) -> str:
        return self.assembled.source

    @property
    def success_rate(self) -> float:
        return self.report.success_rate


@dataclass
class GenerationResult:
    task: str
    description: str
    object_names: list[str]
    model_label: str
    prompt_hash: str
    holdout: bool
    candidates: list[Candidate] = field(default_factory=list)
    llm_calls: int = 0
    llm_seconds: float = 0.0
    elapsed_s: float = 0.0
    accepted: bool = False
    best: Candidate | None = None

    @property
    def tries(self) -> int:
        return len(self.candidates)

    def provenance(self) -> dict:
        best = self.best
        return {
            "task": self.task, "description": self.description,
            "object_names": list(self.object_names), "model": self.model_label,
            "prompt_hash": self.prompt_hash, "holdout_examples": self.holdout,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "generator": GENERATOR_VERSION, "tries": self.tries, "llm_calls": self.llm_calls,
            "llm_seconds": round(self.llm_seconds, 1), "elapsed_s": round(self.elapsed_s, 1),
            "accepted": self.accepted,
            "best_try": best.index if best else None,
            "plan": best.plan if best else [],
            "validation": best.report.summary() if best else None,
            "tries_success_rates": [round(c.success_rate, 4) for c in self.candidates],
            "source_sha256": hashlib.sha256(best.source.encode()).hexdigest() if best else None,
        }


class GenerationError(RuntimeError):
    """The LLM gave nothing usable (e.g. no parsable plan after all tries)."""


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
        self._calls = 0
        self._llm_seconds = 0.0
        self.transcript: list[dict] = []  # every request's last message and the answer
        self.on_exchange = on_exchange  # called with each exchange as it happens

    # ---- LLM access -----------------------------------------------------------------------------
    def _ask(self, messages: list[BaseMessage], retry: int = 0) -> str:
        model = self.model
        if retry and self.config.retry_temperature > 0 and getattr(
                model, "_llm_type", "") in ("iteach-llama-cpp", "openai-chat"):
            extra = {"temperature": self.config.retry_temperature}
            if model._llm_type == "iteach-llama-cpp":
                extra["seed"] = 1000 + self._calls
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
                    "seconds": round(seconds, 2), "retry": retry}
        self.transcript.append(exchange)
        if self.on_exchange is not None:
            self.on_exchange(exchange)
        return str(content)

    # ---- the hierarchy -----------------------------------------------------------------------
    def plan(self, lib: PromptLibrary, description: str, objects, feedback: str = "",
             first_retry: int = 0) -> list[str]:
        note, fallback = feedback, None
        # Objects of the few-shot examples that this task does not have (a small model copies
        # them: "move the microwave above the plate").
        foreign = sorted({o for e in lib.examples for o in e.objects} - set(objects))
        for attempt in range(self.config.plan_tries):
            text = self._ask(lib.planner_messages(description, objects, note),
                             retry=first_retry + attempt)
            try:
                steps = parse_plan(text, self.config.max_plan_steps)
            except ValueError as exc:
                problem = str(exc)
            else:
                joined = " ".join(steps).lower()
                strays = [o for o in foreign if re.search(rf"\b{re.escape(o.lower())}\b", joined)]
                if not strays:
                    self.progress("plan: " + " | ".join(f"{i}. {s}"
                                                        for i, s in enumerate(steps, 1)))
                    return steps
                fallback = steps
                problem = (f"the plan mentions {', '.join(repr(o) for o in strays)}, which this "
                           f"task does not have; its objects are {list(objects)}")
            note = (f"{feedback}\nYour previous answer was:\n{text.strip()[:400]}\n"
                    f"Problem: {problem}.").strip()
            self.progress(f"plan attempt {attempt + 1}: {problem}")
        if fallback is not None:  # parsable; its snippets will be checked against the objects
            return fallback
        raise GenerationError(f"no parsable plan after {self.config.plan_tries} answers")

    def write_snippet(self, lib: PromptLibrary, role: str, objects, instruction: str,
                      action_code: str = "", feedback: str = "", previous: str = "",
                      first_retry: int = 0) -> str:
        """One action or check snippet that passes the static checks (or the last attempt).

        previous: code that failed validation; an identical answer counts as a problem.
        first_retry: > 0 samples even the first answer at the retry temperature (repairs).
        """
        note, code = feedback, "pass"
        for attempt in range(self.config.snippet_tries):
            if role == "action":
                msgs = lib.action_messages(objects, instruction, note)
            else:
                msgs = lib.check_messages(objects, instruction, action_code, note)
            answer = self._ask(msgs, retry=first_retry + attempt)
            code = bind_missing_objects(clean_snippet(extract_code(answer), role), objects,
                                        action_code if role == "check" else "")
            problems = self.snippet_problems(role, code, objects, action_code)
            if previous and code.strip() == previous.strip():
                problems.append("this is the same code as before, which failed; change it")
            if not problems:
                return code
            self.progress(f"  {role} for '{instruction}' attempt {attempt + 1}: "
                          + "; ".join(problems))
            note = (f"{feedback}\nYour previous answer was:\n```python\n{code}\n```\n"
                    f"It has these problems: {'; '.join(problems)}\n"
                    "Write the corrected code.").strip()
        return code

    @staticmethod
    def snippet_problems(role: str, code: str, objects, action_code: str = "") -> list[str]:
        full = code if role == "action" else f"{action_code}\n{code}"
        offset = 0 if role == "action" else len(action_code.splitlines())
        problems = [f"line {i.lineno - offset}: {i.message}" if i.lineno > offset else i.message
                    for i in validate_source(full, objects)]
        if role == "check" and "increment_current_step" not in code:
            problems.append("the check must call increment_current_step() when the step is done")
        if role == "action" and not any(k in code for k in ("move_gripper", "set_gripper")):
            problems.append("the motion code must call move_gripper(...) or set_gripper(...)")
        return problems

    def write_step(self, lib: PromptLibrary, objects, instruction: str,
                   feedback: str = "", previous: StepCode | None = None) -> StepCode:
        action_note = check_note = feedback
        if previous is not None and feedback:
            action_note = (f"Previous code for this step:\n```python\n{previous.action}\n```\n"
                           f"{feedback}\nWrite better motion code.")
            check_note = (f"Previous check for this step:\n```python\n{previous.check}\n```\n"
                          f"{feedback}\nWrite a better check.")
        if previous is None:
            action = self.write_snippet(lib, "action", objects, instruction,
                                        feedback=action_note)
            check = self.write_snippet(lib, "check", objects, instruction, action, check_note)
            return StepCode(instruction, action, check)
        # A repair: sample (retry temperature) and refuse an unchanged answer; the step is
        # changed if either its motion or its check changes.
        action = self.write_snippet(lib, "action", objects, instruction, feedback=action_note,
                                    first_retry=1)
        check = self.write_snippet(lib, "check", objects, instruction, action, check_note,
                                   previous=previous.check if action == previous.action else "",
                                   first_retry=1)
        return StepCode(instruction, action, check)

    def write_steps(self, lib: PromptLibrary, objects, plan: list[str],
                    index: int = 1) -> list[StepCode]:
        """Every step's action, then every step's check: consecutive prompts of one kind share
        their few-shot prefix, which a local model evaluates once."""
        actions = []
        for k, instruction in enumerate(plan, 1):
            self.progress(f"try {index}: motion code for step {k}/{len(plan)}: {instruction}")
            actions.append(self.write_snippet(lib, "action", objects, instruction))
        steps = []
        for k, (instruction, action) in enumerate(zip(plan, actions), 1):
            self.progress(f"try {index}: check for step {k}/{len(plan)}")
            check = self.write_snippet(lib, "check", objects, instruction, action)
            steps.append(StepCode(instruction, action, check))
        return steps

    # ---- generation with validation and repair -----------------------------------------------
    def generate(self, task: str, description: str, object_names: Sequence[str]
                 ) -> GenerationResult:
        cfg = self.config
        lib = self.library.select(task, cfg.holdout)
        objects = list(object_names)
        result = GenerationResult(task=task, description=description, object_names=objects,
                                  model_label=self.model_label, prompt_hash=lib.digest(),
                                  holdout=cfg.holdout)
        t_start = time.perf_counter()
        self._calls, self._llm_seconds, self.transcript = 0, 0.0, []
        plan = steps = None
        feedback, replan, repairs, repair_target = "", True, {}, None
        for index in range(1, cfg.max_tries + 1):
            try:
                if replan:
                    self.progress(f"try {index}: planning" + (" again" if index > 1 else ""))
                    plan = self.plan(lib, description, objects, feedback, first_retry=index - 1)
                    steps = self.write_steps(lib, objects, plan, index)
                    repairs, replan = {}, False
                elif repair_target is not None:
                    steps[repair_target - 1] = self.write_step(
                        lib, objects, plan[repair_target - 1], feedback=f"Problem: {feedback}",
                        previous=steps[repair_target - 1])
            except GenerationError as exc:
                if not result.candidates:
                    raise
                self.progress(f"try {index}: stopping, keeping the best candidate ({exc})")
                break
            assembled = assemble(description, objects, steps,
                                 header=f"generated by {GENERATOR_VERSION} with {self.model_label}")
            self.progress(f"try {index}: validating on {len(cfg.seeds)} seeded episodes")
            report = self.validator(assembled.source, task, cfg.seeds)
            cand = Candidate(index, list(plan), list(steps), assembled, report)
            result.candidates.append(cand)
            if result.best is None or cand.success_rate > result.best.success_rate:
                result.best = cand
            self.progress(f"try {index}: success {report.successes}/{len(report.episodes)}"
                          + (f" (rejected: {report.static_error})" if report.static_error else ""))
            if report.static_ok and report.success_rate >= cfg.accept_rate:
                result.accepted = True
                break
            if index == cfg.max_tries:
                break
            feedback = report.feedback(plan)
            target = self._repair_target(report, assembled, len(plan))
            if target is None or repairs.get(target, 0) >= 2:
                self.progress(f"try {index}: re-planning ({feedback[:160]})")
                feedback = ("A previous plan was:\n" + "\n".join(
                    f'{i}. composer("{s}")' for i, s in enumerate(plan, 1))
                    + f"\nIt failed: {report.feedback(plan, detail=False)}\n"
                    "Write a different plan.")
                replan, repair_target = True, None
                continue
            repairs[target] = repairs.get(target, 0) + 1
            repair_target = target
            self.progress(f"try {index}: repairing step {target} ({feedback[:160]})")
        result.llm_calls, result.llm_seconds = self._calls, self._llm_seconds
        result.elapsed_s = time.perf_counter() - t_start
        return result

    @staticmethod
    def _repair_target(report: ValidationReport, assembled: AssembledPolicy,
                       n_steps: int) -> int | None:
        """Which step to re-prompt: where the error is, else where episodes got stuck, else
        (all steps ran but the task was not achieved) the last step; None means re-plan."""
        if report.static_error:
            where = assembled.locate(report.static_lineno)
            return where[0] if where else None
        err = report.first_error()
        if err is not None:
            where = assembled.locate(err.error_lineno)
            if where:
                return where[0]
        step = report.failing_step()
        if step is None:
            return None
        return min(step, n_steps)
