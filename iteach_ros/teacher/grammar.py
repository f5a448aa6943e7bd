"""GBNF grammars (llama.cpp's constrained decoding) for the planner, action and check answers.

A local model decoding under these grammars can only write what the CodePolicy API and the
task allow: plan lines ``N. composer("...")`` in the planner's step language
(``prompts/plan_steps.gbnf``: open or close the gripper, move to an object, move or push or pull
it by a distance, in a direction or relative to another object) over the task's object names;
motion code made of assignments,
``move_gripper(...)`` and ``set_gripper(True|False)`` over the task's objects and the vector
attributes of :data:`iteach_ros.codepolicy.runtime.OBJECT_ATTRIBUTES`; checks that are one
``if`` calling ``increment_current_step()``. Every answer is a fenced Python block (or the plan
lines), the form of the few-shot answers. The grammars restrict the form, not the content: a
wrong plan or a wrong sign still gets through, and the simulator finds it.

Remote chat models (langchain's OpenAI, Ollama, ...) get no grammar; their answers go through
the same static checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from iteach_ros.codepolicy.runtime import OBJECT_ATTRIBUTES

# The attributes a grammar offers, by the type the attribute table gives them.
VECTOR_ATTRIBUTES = tuple(a.name for a in OBJECT_ATTRIBUTES if a.value.split(",")[0].strip()
                          in ("float[3]", "unit float[3]"))
BOOLEAN_ATTRIBUTES = tuple(a.name for a in OBJECT_ATTRIBUTES if a.value == "bool")
MAX_ACTION_LINES = 8
MAX_CHECK_ASSIGNMENTS = 3


def _literal(text: str) -> str:
    """A GBNF string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _alternatives(options: Iterable[str]) -> str:
    # Longest first, so that no alternative is a prefix that hides a longer one in the listing.
    unique = sorted(set(options), key=lambda s: (-len(s), s))
    return " | ".join(_literal(o) for o in unique)


@dataclass(frozen=True)
class Grammar:
    """A GBNF text and what it was built for (the cache's provenance keeps its digest)."""

    kind: str  # 'plan' | 'action' | 'check'
    text: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def plan_grammar(objects: Sequence[str], step_rules: str, max_steps: int,
                 graspable: Sequence[str] | None = None) -> Grammar:
    """Numbered ``composer("...")`` lines, 1 to ``max_steps`` of them, each a ``step`` of the
    planner's step language ``step_rules`` (GBNF rules from ``prompts/plan_steps.gbnf``, which
    may use ``obj``: the task's object names, ``held``: the objects the fingers can hold
    (``graspable``; every object when None or empty), and ``distance``: like ``20cm``)."""
    if max_steps < 1:
        raise ValueError("max_steps must be >= 1")
    line = [f'{_literal(("" if i == 1 else chr(10)) + f"{i}. composer(" + chr(34))} step '
            f'{_literal(chr(34) + ")")}' for i in range(1, max_steps + 1)]
    root = line[-1]
    for text in reversed(line[:-1]):
        root = f"{text} ({root})?"
    rules = [ln for ln in step_rules.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return Grammar("plan", "\n".join([
        f"root ::= {root}",
        *rules,
        f"obj ::= {_alternatives(str(o).lower() for o in objects)}",
        f"held ::= {_alternatives(str(o).lower() for o in (graspable or objects))}",
        'distance ::= [1-9] [0-9]? "cm"',
    ]) + "\n")


def variable_names(objects: Sequence[str]) -> list[str]:
    """The variable names a snippet may bind: the gripper, a goal (a vector; the others are
    objects), and each object by its name
    (spaces as '_') or its last word ('door' for 'microwave door'), the names the few-shot
    examples use. A fixed list keeps a small model from binding or reading API functions as
    variables (``move_gripper - gripper.position``)."""
    names = {"gripper", "goal"}
    for o in objects:
        words = str(o).strip().lower().split()
        if not words:
            continue
        for name in ("_".join(words), words[-1]):
            if name.isidentifier():
                names.add(name)
    return sorted(names)


def _expression_rules(objects: Sequence[str], focus: Sequence[str] = ()) -> list[str]:
    """``focus``: the objects the step names; get_object and the variable names offer only
    them and the gripper (every object when the step names none): a small model told "move to
    the charger" otherwise moves to the wall outlet it is also shown."""
    names = ["gripper", *(focus or objects)]
    return [
        'vexpr ::= vterm ((" + " | " - ") vterm)*',
        'vterm ::= (num " * ")? vatom (" * " num)? | "-" vatom',
        # an object's vectors through its variable or get_object, and the goal (a vector): no
        # attribute of the goal, no arithmetic on an object itself
        'vatom ::= "get_object(" objname ")." vattr | "np.array([" num ", " num ", " num "])"'
        ' | "(" vexpr ")" | "gripper_default_position" | var "." vattr | "goal"',
        f"vattr ::= {_alternatives(VECTOR_ATTRIBUTES)}",
        f"battr ::= {_alternatives(BOOLEAN_ATTRIBUTES)}",
        f"objname ::= {_alternatives(repr(str(n)) for n in names)}",
        # Numbers in metres (or factors) below 1: the arm reaches less than a metre, so a
        # distance of '20', '20.0' or '1.0' for 10 cm is a slip the grammar does not let
        # through.
        'num ::= "-"? "0" ("." [0-9] [0-9]? [0-9]?)?',
        f"var ::= {_alternatives(n for n in variable_names(focus or objects) if n != 'goal')}",
        'assign ::= var " = get_object(" objname ")" | "goal = " vexpr',
    ]


def action_grammar(objects: Sequence[str], focus: Sequence[str] = ()) -> Grammar:
    """Motion code: 1 to :data:`MAX_ACTION_LINES` lines of assignments, ``move_gripper`` and
    ``set_gripper`` calls (``focus``: see ``_expression_rules``)."""
    return Grammar("action", "\n".join([
        f'root ::= "```python\\n" (stmt "\\n"){{1,{MAX_ACTION_LINES}}} "```"',
        'stmt ::= assign | "move_gripper(" vexpr ")" | "set_gripper(" ("True" | "False") ")"',
        *_expression_rules(objects, focus),
    ]) + "\n")


def check_grammar(objects: Sequence[str], focus: Sequence[str] = ()) -> Grammar:
    """A completion check: a few assignments, then one ``if`` whose body is
    ``increment_current_step()``; its condition compares distances or reads boolean
    attributes."""
    return Grammar("check", "\n".join([
        f'root ::= "```python\\n" (assign "\\n"){{0,{MAX_CHECK_ASSIGNMENTS}}} "if " cond '
        '":\\n    increment_current_step()\\n```"',
        'cond ::= catom ((" and " | " or ") catom)*',
        'catom ::= "np.linalg.norm(" vexpr ") " ("<" | ">") " " num | "not "? batom',
        'batom ::= var "." battr | "get_object(" objname ")." battr | "is_gripper_open()"',
        *_expression_rules(objects, focus),
    ]) + "\n")
