"""Hierarchical prompts (planner, action, check) and CodePolicy assembly; the LLM's answers
are parsed and checked in :mod:`iteach_ros.teacher.answers`.

The prompts and few-shot examples are data files in ``iteach_ros/teacher/prompts/``
(``planner.txt``, ``action.txt``, ``check.txt``, ``api.txt``, ``examples.yaml``, and
``plan_steps.gbnf``, the planner's step language under the plan grammar). Few-shot
examples are chat turns (user request, assistant answer) after the system prompt; the variable
part of each prompt comes last so a local model can reuse its evaluated prefix.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

PROMPTS_PACKAGE = "iteach_ros.teacher"
PROMPT_FILES = ("api.txt", "planner.txt", "action.txt", "check.txt", "examples.yaml",
                "plan_steps.gbnf")


@dataclass(frozen=True)
class ExampleStep:
    instruction: str
    action: str
    check: str
    fewshot: bool = False  # an example of the action and check prompts


@dataclass(frozen=True)
class Example:
    task: str
    objects: tuple[str, ...]
    related_tasks: tuple[str, ...]
    steps: tuple[ExampleStep, ...]
    skill: str = ""  # one line for the planner's instructions
    graspable: tuple[str, ...] = ()  # the objects that can be picked up


@dataclass
class PromptLibrary:
    """Prompt templates and few-shot examples (loaded from the package's data files)."""

    api: str
    planner: str
    action: str
    check: str
    examples: list[Example]
    texts: dict[str, str] = field(default_factory=dict, repr=False)
    plan_steps: str = ""  # the planner's step language (GBNF rules of the plan grammar)

    @classmethod
    def load(cls, directory: str | Path | None = None) -> PromptLibrary:
        if directory is None:
            base = resources.files(PROMPTS_PACKAGE) / "prompts"
            texts = {name: (base / name).read_text(encoding="utf-8") for name in PROMPT_FILES}
        else:
            texts = {name: (Path(directory) / name).read_text(encoding="utf-8")
                     for name in PROMPT_FILES}
        examples = [
            Example(task=e["task"], objects=tuple(e["objects"]), skill=e.get("skill", ""),
                    graspable=tuple(e.get("graspable", ())),
                    related_tasks=tuple(e.get("related_tasks", ())),
                    steps=tuple(ExampleStep(s["instruction"], s["action"].strip(),
                                            s["check"].strip(), bool(s.get("fewshot", False)))
                                for s in e["steps"]))
            for e in yaml.safe_load(texts["examples.yaml"])
        ]
        api = texts["api.txt"].strip()
        return cls(api=api, planner=texts["planner.txt"].strip(),
                   action=texts["action.txt"].strip().replace("{api}", api),
                   check=texts["check.txt"].strip().replace("{api}", api),
                   examples=examples, texts=texts,
                   plan_steps=texts["plan_steps.gbnf"])

    def select(self, task_name: str | None = None, holdout: bool = False) -> PromptLibrary:
        """A copy without the examples related to ``task_name`` when ``holdout`` is set."""
        if not holdout or task_name is None:
            return self
        keep = [e for e in self.examples if task_name not in e.related_tasks]
        return PromptLibrary(self.api, self.planner, self.action, self.check, keep, self.texts,
                             self.plan_steps)

    def digest(self) -> str:
        """sha256 over the templates and the examples in use (the 'prompt hash' provenance)."""
        payload = {"templates": {k: v for k, v in self.texts.items() if k != "examples.yaml"},
                   "examples": [[e.task, e.objects, e.skill, e.graspable,
                                 [(s.instruction, s.action, s.check, s.fewshot) for s in e.steps]]
                                for e in self.examples],
                   "step_examples": [[e.task, s.instruction] for e, s in self.step_examples()]}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def step_examples(self) -> list[tuple[Example, ExampleStep]]:
        """(task, step) pairs shown in the action and check prompts: the steps marked
        ``fewshot``, plus the first step of each kind (:func:`step_kind`) that no marked step
        in use shows: leaving an example out (holdout) must not leave a kind of step, such as
        "open the gripper", without any code example while another example still has one."""
        pairs = [(e, s) for e in self.examples for s in e.steps]
        shown = {step_kind(s.instruction, e.objects) for e, s in pairs if s.fewshot}
        chosen = []
        for e, s in pairs:
            kind = step_kind(s.instruction, e.objects)
            if s.fewshot:
                chosen.append((e, s))
            elif kind not in shown:
                shown.add(kind)
                chosen.append((e, s))
        return chosen

    # ---- messages ---------------------------------------------------------------------------
    def planner_system(self) -> str:
        """The planner's instructions plus the skills of the examples in use."""
        skills = [f"- {e.skill}" for e in self.examples if e.skill]
        return self.planner + ("\nHow to do common things:\n" + "\n".join(skills)
                               if skills else "")

    def planner_messages(self, description: str, objects, feedback: str = "",
                         graspable=None) -> list[BaseMessage]:
        """``graspable``: the task's objects that can be picked up (None: not said)."""
        msgs: list[BaseMessage] = [SystemMessage(self.planner_system())]
        for ex in self.examples:
            msgs.append(HumanMessage(_task_line(ex.task, ex.objects,
                                                None if graspable is None else ex.graspable)))
            msgs.append(AIMessage("\n".join(f'{i}. composer("{s.instruction}")'
                                            for i, s in enumerate(ex.steps, 1))))
        request = _task_line(description, objects, graspable)
        if feedback:
            request += "\n" + feedback
        msgs.append(HumanMessage(request))
        return msgs

    def action_messages(self, objects, instruction: str, feedback: str = "") -> list[BaseMessage]:
        msgs: list[BaseMessage] = [SystemMessage(self.action)]
        for ex, s in self.step_examples():
            msgs.append(HumanMessage(_step_line(ex.objects, s.instruction)))
            msgs.append(AIMessage(_fence(s.action)))
        request = _step_line(objects, instruction)
        if feedback:
            request += "\n" + feedback
        msgs.append(HumanMessage(request))
        return msgs

    def check_messages(self, objects, instruction: str, action_code: str,
                       feedback: str = "") -> list[BaseMessage]:
        msgs: list[BaseMessage] = [SystemMessage(self.check)]
        for ex, s in self.step_examples():
            msgs.append(HumanMessage(_check_line(ex.objects, s.instruction, s.action)))
            msgs.append(AIMessage(_fence(s.check)))
        request = _check_line(objects, instruction, action_code)
        if feedback:
            request += "\n" + feedback
        msgs.append(HumanMessage(request))
        return msgs


def step_kind(instruction: str, objects) -> str:
    """An instruction with its objects and distances abstracted: "pull the cork 5cm along its
    normal" and "pull the drawer handle 15cm along its normal" are one kind of step."""
    kind = instruction.lower()
    for name in sorted(objects, key=len, reverse=True):
        kind = re.sub(rf"\b{re.escape(name.lower())}\b", "<object>", kind)
    return re.sub(r"\d+(?:\.\d+)?\s*(?:cm|mm|m)\b", "<distance>", kind)


def _task_line(description: str, objects, graspable=None) -> str:
    line = f"Task: {description}\nObjects: {list(objects)}"
    if graspable is not None:  # the API's can_be_gripped: what the fingers can hold
        line += f"\nCan be picked up: {list(graspable) if graspable else 'none'}"
    return line


def _step_line(objects, instruction: str) -> str:
    # The gripper is listed with the task's objects: a small model binds the objects it is
    # shown and, told only ['lid'], writes lid.position - lid.position for "move to the lid".
    return f"Objects: {['gripper', *(o for o in objects if o != 'gripper')]}\nStep: {instruction}"


def _check_line(objects, instruction: str, action_code: str) -> str:
    return f"{_step_line(objects, instruction)}\nMotion code:\n{_fence(action_code)}"


def _fence(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


# ---- assembly -----------------------------------------------------------------------------------
@dataclass
class StepCode:
    instruction: str
    action: str
    check: str


@dataclass
class AssembledPolicy:
    """A CodePolicy source and the line ranges each step's action and check occupy."""

    source: str
    line_map: dict[int, tuple[int, str]]  # source line -> (step index from 1, 'action'|'check')

    def locate(self, lineno: int | None) -> tuple[int, str] | None:
        return self.line_map.get(lineno) if lineno else None


def assemble(description: str, objects, steps: list[StepCode], header: str = "") -> AssembledPolicy:
    """One CodePolicy: a state machine over ``current_step``, one branch per planned step
    (action code, then its check), then ``set_done()``."""
    lines = [f"# CodePolicy for task {description!r}, objects {list(objects)}."]
    if header:
        lines += [f"# {h}" for h in header.splitlines()]
    lines.append("# Plan:")
    lines += [f'#   {i}. composer("{s.instruction}")' for i, s in enumerate(steps, 1)]
    line_map: dict[int, tuple[int, str]] = {}
    for i, step in enumerate(steps, 1):
        lines.append(f"{'if' if i == 1 else 'elif'} current_step == {i}:")
        lines.append(f"    # {step.instruction}")
        for role, code in (("action", step.action), ("check", step.check)):
            for line in code.splitlines():
                lines.append(("    " + line) if line.strip() else "")
                line_map[len(lines)] = (i, role)
    lines.append("else:")
    lines.append("    set_done()")
    return AssembledPolicy(source="\n".join(lines) + "\n", line_map=line_map)
