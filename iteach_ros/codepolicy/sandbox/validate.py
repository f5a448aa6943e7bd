"""Static validation of a CodePolicy's AST against the whitelist (nothing runs).

Bounded in time for any source: the source is capped at ``MAX_SOURCE_CHARS``, the walk stops
after ``MAX_ISSUES`` findings or ``time_limit_s``, and "did you mean" hints are computed for
the first ``MAX_HINTS`` findings only, for ``HINT_TIME_S`` at most, among candidates of a
similar length.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import time

from iteach_ros.codepolicy.sandbox.errors import Issue, SandboxError
from iteach_ros.codepolicy.sandbox.whitelist import (
    _ALLOWED_NODES,
    _NODE_HINTS,
    API_NAMES,
    ATTRIBUTE_NAMES,
    CATCHABLE,
    FORBIDDEN_NAMES,
    GUARDED_METHODS,
    MAX_FSTRING_FIELDS,
    MAX_SOURCE_CHARS,
    MAX_STARRED,
    NUMPY_LINALG_NAMES,
    NUMPY_NAMES,
    SAFE_BUILTINS,
)

MAX_ISSUES = 50  # findings reported before validation stops
MAX_HINTS = 10  # findings that get a "did you mean" hint
HINT_TIME_S = 0.1  # and at most this long in all (difflib compares every candidate)
MAX_CANDIDATES = 500
VALIDATION_TIME_LIMIT_S = 2.0


class _Stop(Exception):  # noqa: N818 - internal: the walk stops early
    pass


def _suggest(name: str, candidates) -> str:
    # A close match (ratio >= 0.6) is at most ~2.3x longer or shorter than the name.
    near = sorted(c for c in candidates if 0.4 * len(name) <= len(c) <= 2.5 * len(name) + 1)
    if len(near) > MAX_CANDIDATES:  # keep those sharing the longest prefix with the name
        near.sort(key=lambda c: -len(os.path.commonprefix((name, c))))
        near = near[:MAX_CANDIDATES]
    close = difflib.get_close_matches(name, near, n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _target_subscripts(target: ast.AST):
    """Subscripts inside an unpacking target (``a[0], b = ...``)."""
    if isinstance(target, ast.Tuple | ast.List):
        for elt in target.elts:
            yield from _target_subscripts(elt)
    elif isinstance(target, ast.Starred):
        yield from _target_subscripts(target.value)
    elif isinstance(target, ast.Subscript):
        yield target


def _bound_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _is_pure(node: ast.AST) -> bool:
    """No calls, walrus or lambdas inside: safe to evaluate twice."""
    return not any(isinstance(n, ast.Call | ast.NamedExpr | ast.Lambda) for n in ast.walk(node))


class _Validator(ast.NodeVisitor):
    def __init__(self, tree: ast.Module, object_names, deadline: float):
        self.issues: list[Issue] = []
        self.bound = _bound_names(tree)
        self.known = set(API_NAMES) | set(SAFE_BUILTINS) | self.bound
        self.object_names = None if object_names is None else (
            {n.strip().lower() for n in object_names} | {"gripper"})
        self._in_comp_iter = 0
        self._called: set[int] = set()  # ids of the Attribute nodes that are called
        self._deadline = deadline
        self._visited = 0
        self._hint_time = 0.0

    def visit(self, node):
        self._visited += 1
        if not self._visited & 255 and time.perf_counter() > self._deadline:
            raise TimeoutError
        return super().visit(node)

    def add(self, node, message, hint=None):
        """One finding; ``hint``: (name, candidates) for a "did you mean" suggestion."""
        if hint is not None and len(self.issues) < MAX_HINTS and self._hint_time < HINT_TIME_S:
            t0 = time.perf_counter()
            message += _suggest(*hint)
            self._hint_time += time.perf_counter() - t0
        self.issues.append(Issue(getattr(node, "lineno", 0), message))
        if len(self.issues) >= MAX_ISSUES:
            raise _Stop

    def generic_visit(self, node):
        if not isinstance(node, _ALLOWED_NODES):
            kind = type(node).__name__
            self.add(node, _NODE_HINTS.get(kind, f"'{kind}' syntax is not allowed"))
            return
        super().generic_visit(node)

    def visit_Name(self, node):
        name = node.id
        if name.startswith("_") and name != "_":
            self.add(node, f"name {name!r}: names starting with '_' are not allowed")
        elif name in FORBIDDEN_NAMES and name not in self.bound:
            # (A program may name its own variable 'bin' or 'type': the builtin is absent.)
            self.add(node, f"{name!r} is not available in a CodePolicy")
        elif isinstance(node.ctx, ast.Store | ast.Del) and name in API_NAMES:
            hint = (" (call increment_current_step() to advance)" if name == "current_step"
                    else "")
            self.add(node, f"do not assign to the API name {name!r}{hint}")
        elif isinstance(node.ctx, ast.Load) and name not in self.known:
            self.add(node, f"unknown name {name!r}",
                     (name, API_NAMES | set(SAFE_BUILTINS) | self.bound))

    def visit_Attribute(self, node):
        attr = node.attr
        if attr.startswith("_"):
            self.add(node, f"attribute {attr!r}: attributes starting with '_' are not allowed")
            return
        if not isinstance(node.ctx, ast.Load):
            self.add(node, f"assigning or deleting attributes ({attr!r}) is not allowed")
        value = node.value
        np_unbound = "np" not in self.bound
        if isinstance(value, ast.Name) and value.id == "np" and np_unbound:
            if attr not in NUMPY_NAMES:
                self.add(node, f"np.{attr} is not available in a CodePolicy",
                         (attr, NUMPY_NAMES))
        elif (isinstance(value, ast.Attribute) and value.attr == "linalg"
              and isinstance(value.value, ast.Name) and value.value.id == "np" and np_unbound):
            if attr not in NUMPY_LINALG_NAMES:
                self.add(node, f"np.linalg.{attr} is not available in a CodePolicy",
                         (attr, NUMPY_LINALG_NAMES))
        elif attr not in ATTRIBUTE_NAMES:
            self.add(node, f"attribute {attr!r} is not available in a CodePolicy",
                     (attr, ATTRIBUTE_NAMES))
        elif attr in GUARDED_METHODS and id(node) not in self._called:
            self.add(node, f"'.{attr}' may only be called directly (x.{attr}(...)), not taken "
                     "as a value")
        self.visit(value)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Attribute):
            self._called.add(id(func))
        if (self.object_names is not None and isinstance(func, ast.Name)
                and func.id == "get_object" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                and node.args[0].value.strip().lower() not in self.object_names):
            name = node.args[0].value
            self.add(node, f"get_object({name!r}): no such object; known objects: "
                     f"{sorted(self.object_names)}", (name.lower(), self.object_names))
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        if node.decorator_list:
            self.add(node, "decorators are not allowed")
        if node.returns is not None:
            self.visit(node.returns)
        self.visit(node.args)
        for stmt in node.body:
            self.visit(stmt)
        if node.name.startswith("_"):
            self.add(node, f"function name {node.name!r}: names starting with '_' are not allowed")
        if node.name in API_NAMES:
            self.add(node, f"do not redefine the API function {node.name!r}")

    def visit_arg(self, node):
        if node.arg.startswith("_") and node.arg != "_":
            self.add(node, f"argument {node.arg!r}: names starting with '_' are not allowed")
        if node.annotation is not None:
            self.visit(node.annotation)

    def visit_ExceptHandler(self, node):
        if node.type is None:
            self.add(node, "bare 'except:' is not allowed; catch a specific exception")
        else:
            types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            for t in types:
                if not (isinstance(t, ast.Name) and t.id in CATCHABLE):
                    self.add(node, "only these exceptions may be caught: "
                             + ", ".join(sorted(CATCHABLE)))
                    break
        if node.name and node.name.startswith("_"):
            self.add(node, f"name {node.name!r}: names starting with '_' are not allowed")
        self.generic_visit(node)

    def visit_FormattedValue(self, node):
        spec = node.format_spec
        if spec is not None:
            texts = [v.value for v in spec.values if isinstance(v, ast.Constant)]
            if len(texts) != len(spec.values):
                self.add(node, "f-string format specs must be constant")
            elif any(int(d) > 100 for d in re.findall(r"\d+", "".join(map(str, texts)))):
                self.add(node, "f-string width/precision above 100 is not allowed")
        self.visit(node.value)

    def visit_JoinedStr(self, node):
        fields = sum(isinstance(n, ast.FormattedValue) for n in ast.walk(node))
        if fields > MAX_FSTRING_FIELDS:
            self.add(node, f"an f-string may have at most {MAX_FSTRING_FIELDS} replacement "
                     f"fields (this one has {fields})")
        self.generic_visit(node)

    def _display(self, node):
        if sum(isinstance(e, ast.Starred) for e in node.elts) > MAX_STARRED:
            self.add(node, f"at most {MAX_STARRED} *unpackings in one list, tuple or set")
        self.generic_visit(node)

    visit_List = visit_Tuple = visit_Set = _display

    def _one_subscript_per_statement(self, node, targets, alone=True):
        if any(True for t in targets for _ in _target_subscripts(t)) and (
                not alone or len(targets) > 1 or not isinstance(targets[0], ast.Subscript)):
            self.add(node, "assign to a subscript in a statement of its own (x[i] = v), not "
                     "in a chained or unpacking assignment or a loop target")

    def visit_Assign(self, node):
        self._one_subscript_per_statement(node, node.targets)
        self.generic_visit(node)

    def visit_For(self, node):
        self._one_subscript_per_statement(node, [node.target], alone=False)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        target = node.target
        if isinstance(target, ast.Subscript) and not (_is_pure(target.value)
                                                      and _is_pure(target.slice)):
            self.add(node, "augmented assignment to a computed subscript is not allowed; "
                     "use a temporary variable")
        self.generic_visit(node)

    def visit_Compare(self, node):
        if len(node.ops) > 1 and self._in_comp_iter:
            if not all(_is_pure(c) for c in node.comparators[:-1]):
                self.add(node, "chained comparison with a call inside a comprehension's 'in' "
                         "part is not allowed; split it")
        self.generic_visit(node)

    def visit_comprehension(self, node):
        self._one_subscript_per_statement(node.target, [node.target], alone=False)
        self.visit(node.target)
        self._in_comp_iter += 1
        self.visit(node.iter)
        self._in_comp_iter -= 1
        for cond in node.ifs:
            self.visit(cond)

    def visit_Constant(self, node):
        if isinstance(node.value, bytes):
            self.add(node, "bytes literals are not allowed")


def _object_names(object_names) -> list[str] | None:
    if object_names is None:
        return None
    if isinstance(object_names, str):
        object_names = [object_names]
    try:
        names = list(object_names)
    except TypeError:
        raise SandboxError("input", "object_names must be a sequence of strings, got "
                           f"{type(object_names).__name__}") from None
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise SandboxError("input", f"object_names must be strings, got {bad[0]!r}")
    return names


def validate_source(source: str, object_names=None, *,
                    time_limit_s: float = VALIDATION_TIME_LIMIT_S) -> list[Issue]:
    """Static checks of a CodePolicy; returns the issues (empty list: accepted).

    object_names: the task's objects; when given, literal ``get_object('...')`` names are
    checked against them (plus 'gripper'); not strings: SandboxError('input').
    time_limit_s: wall-clock limit of the walk (a finding says so when it is reached).
    """
    names = _object_names(object_names)
    if not isinstance(source, str):
        return [Issue(0, f"source must be a string, got {type(source).__name__}")]
    if len(source) > MAX_SOURCE_CHARS:
        return [Issue(0, f"source is {len(source)} characters; the limit is {MAX_SOURCE_CHARS}")]
    deadline = time.perf_counter() + time_limit_s
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        text = (exc.text or "").strip()[:200]
        return [Issue(exc.lineno or 0, f"syntax error: {exc.msg}" + (f": {text!r}" if text
                                                                       else ""))]
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return [Issue(0, f"cannot parse: {type(exc).__name__}: {str(exc)[:200]}")]
    validator = _Validator(tree, names, deadline)
    try:
        validator.visit(tree)
    except _Stop:
        validator.issues.append(Issue(0, f"validation stopped after {MAX_ISSUES} problems"))
    except TimeoutError:
        return [*validator.issues[:MAX_HINTS], Issue(0, f"validation took longer than "
                                                        f"{time_limit_s:g} s; the program is "
                                                        "too large or too complex")]
    except RecursionError:
        return [Issue(0, "program is nested too deeply")]
    return validator.issues
