"""The LLM's answers to the hierarchical prompts, parsed and checked (ROS-free): the plan's
steps, the code of a snippet, and the problems a snippet or plan has before it is run
(objects off the task, API misuse, attributes meaningful for other objects)."""

from __future__ import annotations

import ast
import re
import textwrap

from iteach_ros.codepolicy.runtime import OBJECT_ATTRIBUTES

_FENCE_RE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)
_COMPOSER_RE = re.compile(r"""composer\(\s*(['"])(.+?)\1\s*\)""")
_NUMBERED_RE = re.compile(r"^\s*(?:step\s*)?\d+\s*[.):]\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_NUMPY_IMPORT_RE = re.compile(r"^\s*(import numpy( as np)?|from numpy import .*)\s*$")
_STATE_CALL_RE = re.compile(r"^\s*(increment_current_step|set_done)\(\s*\)\s*$")


def extract_code(text: str) -> str:
    """The code in an LLM answer: the first fenced block, else the whole text (dedented)."""
    text = text.replace("\r\n", "\n")
    match = _FENCE_RE.search(text)
    code = match.group(1) if match else text.strip().strip("`")
    return textwrap.dedent(code).strip("\n")


def parse_plan(text: str, max_steps: int = 12) -> list[str]:
    """Step instructions from a planner answer: ``composer("...")`` calls in order, or numbered
    lines when the model forgot the composer form. Raises ValueError when none is found."""
    steps = [m.group(2).strip() for m in _COMPOSER_RE.finditer(text)]
    if not steps:
        steps = [s.strip().strip('"').strip() for s in _NUMBERED_RE.findall(text)]
    steps = [s for s in steps if s][:max_steps]
    if not steps:
        raise ValueError("the plan has no steps: expected lines like 1. composer(\"...\")")
    return steps


OFF_TASK = "the task is about the "  # a plan problem that makes the plan not worth trying
# Plans that grasp one object where the gripper is not, or move another while holding it: the
# fingers can only close on what the gripper was moved to, and a held object goes wherever
# the gripper goes. Physically impossible as written, so also not worth a simulation.
GRASP_PROBLEM = "the gripper "
# A plan moving an object against the way the success condition needs cannot succeed either.
DIRECTION_PROBLEM = "the task needs "
_MOVES_OBJECT_RE = re.compile(r"^(?:move|push|pull|lift|lower|slide) the (.+)$")


def plan_problems(steps: list[str], description: str, objects, foreign=(),
                  graspable=None, directions=()) -> list[str]:
    """What is wrong with a parsed plan before any code is written: it names objects of the
    few-shot examples that the task does not have (``foreign``), it never names an object the
    task description names (the task is about it), it moves an object the opposite way to
    the one its success condition needs (``directions``: (object, 'along its normal' |
    'against its normal')), or it repeats one step three times or more.
    """
    joined = " ".join(steps).lower()

    def named(name: str, text: str) -> bool:
        return re.search(rf"\b{re.escape(name.lower())}\b", text) is not None

    problems = []
    strays = [o for o in foreign if named(o, joined)]
    if strays:
        problems.append(f"the plan mentions {', '.join(repr(o) for o in strays)}, which this "
                        f"task does not have; its objects are {list(objects)}")
    missing = [o for o in objects if named(o, description.lower()) and not named(o, joined)]
    if missing:
        problems.append(f"{OFF_TASK}{' and the '.join(missing)}, which no step mentions")
    if graspable is not None:
        for s in steps:
            m = re.match(r"close the gripper on the (.+)$", s.strip().lower())
            if m and m.group(1) in {o.lower() for o in objects} and m.group(1) not in {
                    g.lower() for g in graspable}:
                problems.append(f"the {m.group(1)} cannot be picked up ("
                                + (f"only the {' and the '.join(graspable)}" if graspable
                                   else "nothing here can") + ")")
    problems += grasp_problems(steps, objects)
    problems += direction_problems(steps, objects, directions)
    repeated = sorted({s for s in steps if steps.count(s) >= 3})
    if repeated:
        problems.append(f"the step {repeated[0]!r} is repeated {steps.count(repeated[0])} times")
    return problems


def _leading_object(text: str, objects) -> str | None:
    """The task's object a text starts with (the longest name that fits)."""
    for name in sorted(objects, key=lambda o: -len(o)):
        if re.match(rf"{re.escape(str(name).lower())}\b", text):
            return name
    return None


_OPPOSITE = {"along its normal": "against its normal", "against its normal": "along its normal"}


def direction_problems(steps: list[str], objects, directions) -> list[str]:
    """Steps that move an object against the way the task's success condition needs it to go
    (``directions``: (object, 'along its normal' | 'against its normal'))."""
    problems = []
    for obj, way in directions:
        for number, raw in enumerate(steps, 1):
            step = raw.strip().lower()
            moved = _MOVES_OBJECT_RE.match(step)
            if (moved and _leading_object(moved.group(1), objects) == obj
                    and _OPPOSITE[way] in step):
                problems.append(f"{DIRECTION_PROBLEM}the {obj} moved {way}, but step {number} "
                                f"moves it {_OPPOSITE[way]} ('{raw.strip()}')")
    return problems


def grasp_problems(steps: list[str], objects) -> list[str]:
    """Grasps the plan cannot carry out: closing the gripper on an object that the last
    motion step did not bring the gripper to, releasing at an object while holding nothing
    and, while an object is held (closed on it and not yet opened), a step that moves, pushes
    or pulls another object."""
    problems: list[str] = []
    last_motion: tuple[int, str] | None = None  # (step number, instruction)
    held: tuple[int, str] | None = None  # (step that grasped, object)
    for number, raw in enumerate(steps, 1):
        step = raw.strip().lower()
        grasp = re.match(r"close the gripper on the (.+)$", step)
        if grasp:
            target = _leading_object(grasp.group(1), objects)
            if target is not None:
                if last_motion is None:
                    problems.append(f"{GRASP_PROBLEM}closes on the {target} in step {number} "
                                    f"but never moved to it: move to the {target} first")
                elif target not in step_objects(last_motion[1], objects):
                    problems.append(
                        f"{GRASP_PROBLEM}closes on the {target} in step {number} but step "
                        f"{last_motion[0]} moved it elsewhere ('{last_motion[1]}'): move to "
                        f"the {target} right before closing the gripper on it")
                held = (number, target)
            continue
        if step.startswith("open the gripper"):
            named = step_objects(step[len("open the gripper"):], objects)
            if held is None and named:
                problems.append(f"{GRASP_PROBLEM}opens at the {named[0]} in step {number} but "
                                f"holds nothing then: close the gripper on an object before "
                                f"releasing it, or open the gripper without naming an object")
            held = None
            continue
        if step.startswith("close the gripper"):
            continue
        moved = _MOVES_OBJECT_RE.match(step)
        if held is not None and moved and not step.startswith("move to "):
            other = _leading_object(moved.group(1), objects)
            if other is not None and other != held[1]:
                problems.append(f"{GRASP_PROBLEM}holds the {held[1]} from step {held[0]}, so "
                                f"step {number} cannot move the {other}: move the {held[1]}")
        last_motion = (number, step)
    return problems


def step_objects(instruction: str, objects) -> list[str]:
    """The task's objects a step's instruction names, whole words, longest names first (so
    'microwave door' does not also name the 'microwave'), in the task's order."""
    text = f" {instruction.lower()} "
    found = set()
    for name in sorted(objects, key=lambda o: -len(o)):
        pattern = rf"\b{re.escape(str(name).lower())}\b"
        if re.search(pattern, text):
            found.add(name)
            text = re.sub(pattern, " ", text)
    return [o for o in objects if o in found]


def object_problems(code: str, focus, objects, context: str = "") -> list[str]:
    """A step that names objects (``focus``) but whose code works on others: the motion code of
    a step that moves the gripper must get every object the step names and no other object of
    the task (a small model writes the wall outlet for "move to the charger"). ``context``:
    code before the snippet (a check's motion code)."""
    if not focus:
        return []
    used = set(re.findall(r"get_object\(\s*['\"]([^'\"]+)['\"]\s*\)", f"{context}\n{code}"))
    problems = []
    others = sorted(o for o in used if o in objects and o not in focus)
    if others:
        problems.append(f"the step is about the {' and the '.join(focus)}, but the code uses "
                        f"the {' and the '.join(others)}")
    if "move_gripper" in f"{context}\n{code}":
        missing = [o for o in focus if o not in used]
        if missing:
            problems.append(f"the step is about the {' and the '.join(missing)}: use "
                            + ", ".join(f"get_object({o!r})" for o in missing))
    return problems


def clean_snippet(code: str, role: str) -> str:
    """Normalise a generated snippet: drop ``import numpy`` lines (np is provided) and, in
    action code, bare ``increment_current_step()`` / ``set_done()`` lines (the check decides)."""
    lines = []
    for line in code.splitlines():
        if _NUMPY_IMPORT_RE.match(line):
            continue
        if role == "action" and _STATE_CALL_RE.match(line):
            continue
        lines.append(line.rstrip())
    return textwrap.dedent("\n".join(lines)).strip("\n") or "pass"


def lint_snippet(code: str, context: str = "") -> list[str]:
    """Slips the sandbox allows but that never make sense in a step: a difference of a value
    with itself (``lid.position - lid.position`` is always zero), and an attribute read from an
    object that never has it (the attribute table's scope: ``.closed`` is the gripper's, so
    ``get_object('lid').closed`` is always False). ``context``: code before the snippet (the
    step's motion code, for a check), whose variables the snippet may use."""

    try:
        tree = ast.parse(code)
        bound = _object_variables(ast.parse(f"{context}\n{code}"))
    except SyntaxError:
        return []
    problems = [f"line {node.lineno}: {ast.unparse(node)} is always zero"
                for node in ast.walk(tree)
                if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)
                and ast.dump(node.left) == ast.dump(node.right)]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or node.attr not in _SCOPED_ATTRIBUTES:
            continue
        owner = _object_of(node.value, bound)
        scope, falsy = _SCOPED_ATTRIBUTES[node.attr]
        if owner is None or (owner == "gripper") == (scope == _GRIPPER_ONLY):
            continue
        problems.append(f"line {node.lineno}: {ast.unparse(node)} is always {falsy}: "
                        f".{node.attr} is meaningful for {scope} only")
    return problems


def gripper_state_problems(code: str, action_code: str) -> list[str]:
    """A check that waits for the opposite of what its step's motion code does to the gripper:
    after ``set_gripper(True)`` the gripper is never closed and holds nothing, so a check on
    ``gripper.closed`` or ``<object>.gripped`` never passes; after ``set_gripper(False)``,
    ``is_gripper_open()`` holds only until the fingers close, so the check passes at once."""

    try:
        action, tree = ast.parse(action_code), ast.parse(code)
        bound = _object_variables(ast.parse(f"{action_code}\n{code}"))
    except SyntaxError:
        return []
    commands = [n for n in ast.walk(action) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name) and n.func.id == "set_gripper" and n.args
                and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, bool)]
    if not commands:
        return []
    last = max(commands, key=lambda n: (n.lineno, n.col_offset))
    opens = last.args[0].value
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.If):
            continue
        for atom, positive in _conjuncts(node.test):
            wants_open = _wants_open(atom, positive, bound)
            if wants_open is None or wants_open == opens:
                continue
            text = ast.unparse(atom) if positive else f"not {ast.unparse(atom)}"
            if opens:
                problems.append(f"the motion code opens the gripper (set_gripper(True)), so "
                                f"{text} never becomes true; wait for is_gripper_open()")
            else:
                problems.append(f"the motion code closes the gripper (set_gripper(False)), so "
                                f"{text} is true only before the fingers close; wait for "
                                "get_object('gripper').closed or the object's .gripped")
    return problems


def _conjuncts(test, positive: bool = True):
    """(atom, polarity) pairs that must all hold for ``test`` to pass (``or`` is not
    followed: one never-true alternative need not block it)."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        if isinstance(test.operand, ast.BoolOp):
            return
        yield from _conjuncts(test.operand, not positive)
    elif isinstance(test, ast.BoolOp):
        if isinstance(test.op, ast.And) and positive:
            for value in test.values:
                yield from _conjuncts(value, positive)
    else:
        yield test, positive


def _wants_open(atom, positive: bool, bound: dict[str, str]) -> bool | None:
    """Whether an atom of a check needs the gripper open (True) or closed (False); None when
    it says nothing about the gripper (or, like ``not lid.gripped``, fits either)."""
    if (isinstance(atom, ast.Call) and isinstance(atom.func, ast.Name)
            and atom.func.id == "is_gripper_open"):
        return positive
    if isinstance(atom, ast.Attribute) and atom.attr in ("closed", "gripped"):
        owner = _object_of(atom.value, bound)
        if owner == "gripper":
            return not positive
        if owner is not None and atom.attr == "gripped" and positive:
            return False
    return None


def _scoped_attributes() -> dict[str, tuple[str, str]]:
    """attribute -> (the objects it is meaningful for, its value elsewhere), from the attribute
    table, for the attributes meaningful for the gripper only or for objects only."""

    out = {}
    for a in OBJECT_ATTRIBUTES:
        if a.objects == "gripper":
            out[a.name] = (_GRIPPER_ONLY, "False" if a.value == "bool" else "None")
        elif a.objects != "all" and a.value == "bool":
            out[a.name] = (a.objects, "False")
    return out


_GRIPPER_ONLY = "the gripper"
_SCOPED_ATTRIBUTES = _scoped_attributes()


def _object_variables(tree) -> dict[str, str]:

    bound = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            name = _get_object_literal(node.value)
            if name is not None:
                bound[node.targets[0].id] = name
    return bound


def _get_object_literal(node) -> str | None:

    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "get_object" and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return node.args[0].value
    return None


def _object_of(node, bound: dict[str, str]) -> str | None:

    if isinstance(node, ast.Name):
        return bound.get(node.id)
    return _get_object_literal(node)


def bind_missing_objects(code: str, objects, context: str = "") -> str:
    """Prepend ``name = get_object('...')`` for object variables a snippet uses but never
    binds (a small model's most common slip: the check reads ``gripper`` that only an earlier
    step defined). Only exact names: 'gripper' and object names with '_' for spaces."""

    try:
        tree = ast.parse(f"{context}\n{code}")
    except SyntaxError:
        return code
    bound, used = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                used.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef):
            bound.add(node.name)
    candidates = {"gripper": "gripper"}
    candidates.update({o.strip().replace(" ", "_"): o for o in objects})
    missing = [n for n in dict.fromkeys(used) if n in candidates and n not in bound]
    lines = [f"{n} = get_object({candidates[n]!r})" for n in missing]
    return "\n".join([*lines, code]) if lines else code


def closed_to_gripped(code: str, context: str = "") -> str:
    """Rewrite ``<object>.closed`` to ``<object>.gripped`` for any object but the gripper: a
    small model's reading of 'close the gripper on the charger' as ``charger.closed``, which
    is always False (``.closed`` is the gripper's); the only sensible meaning is that the
    gripper holds the object. ``context``: code before the snippet, whose variables it uses."""

    try:
        tree = ast.parse(code)
        bound = _object_variables(ast.parse(f"{context}\n{code}"))
    except SyntaxError:
        return code
    spots = sorted(((node.end_lineno, node.end_col_offset) for node in ast.walk(tree)
                    if isinstance(node, ast.Attribute) and node.attr == "closed"
                    and _object_of(node.value, bound) not in (None, "gripper")), reverse=True)
    if not spots:
        return code
    lines = code.splitlines()
    for lineno, end in spots:
        line = lines[lineno - 1]
        lines[lineno - 1] = line[:end - len("closed")] + "gripped" + line[end:]
    return "\n".join(lines)
