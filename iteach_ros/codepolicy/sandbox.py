"""Sandbox for untrusted (LLM-generated) CodePolicies (ROS-free).

Three layers, all in-process so a step stays in the tens of microseconds:

1. **Static validation** of the AST before anything runs (:func:`validate_source`): a whitelist
   of syntax (no imports, classes, ``with``, generators, async, bare ``except``), of names (the
   CodePolicy API, :data:`SAFE_BUILTINS` and names the program binds itself; nothing starting
   with ``_``), of attributes (the object fields, a few list/dict/array methods, ``np.<name>``
   from :data:`NUMPY_NAMES`); no attribute assignment; ``get_object('<literal>')`` must name a
   known object when the task's object names are given. Unknown names come back with a
   "did you mean" hint, so the repair loop can hand the message to the LLM.
2. **Instrumentation** of the validated AST (:class:`_Instrumenter`): every loop body, function
   body, lambda and comprehension ticks a counter; every arithmetic operator, comparison and
   non-constant subscript goes through a size guard; ``range``/``sum`` and the numpy functions
   are size-checked wrappers. Straight-line code pays only the guards (a function call each).
3. **Runtime limits** enforced by the guards (:class:`SandboxLimits`): a tick budget per step,
   CPU time of the calling thread checked every ``check_every`` ticks (``time.thread_time``, so
   a busy GIL or a preempted thread does not count), resident memory growth checked at the same
   ticks (``/proc/self/statm``), and a cap on the size of every sequence, string, array and
   integer the program can create (``[0]*10**10``, ``'a'*10**10``, ``10**10**10``, broadcast
   and fancy-index products are refused *before* they allocate).

The program is compiled once and run each step by
:class:`iteach_ros.codepolicy.fastexec.FastExecutor` (the contract executor's semantics with less
per-step overhead), whose namespace template already holds the guards and restricted builtins.

Any failure becomes a :class:`SandboxError` (``kind`` says which layer, ``message`` says what,
``lineno`` where); the caller keeps serving and the policy object stays usable. The limit is
raised through a ``BaseException`` subclass that the program cannot name or catch (bare
``except`` and ``except BaseException`` are refused), and it is sticky for the rest of the step.

Limits of this design (documented, tested where possible):
- A single C-level call is not interrupted; the size caps keep every such call small (at the
  default 10,000 elements, well under a millisecond), so the time limit is exceeded by at most
  one bounded operation before the next tick or the end-of-step check reports it.
- Memory is bounded by construction (size caps x tick budget) and by the RSS check; it is not a
  hard kernel limit. For a hard cap use :class:`iteach_ros.codepolicy.isolated.IsolatedPolicy`
  (worker subprocess with ``RLIMIT_AS``), at the cost of a pipe round trip per step.
- The whitelist is the security boundary, not the guards: a new numpy function or method must
  be reviewed before it is added to :data:`NUMPY_NAMES` or :data:`ATTRIBUTE_NAMES`.
"""

from __future__ import annotations

import ast
import difflib
import math
import operator
import os
import re
import time
from dataclasses import dataclass, field

import numpy as np

from iteach_ros.codepolicy.fastexec import FastExecutor
from iteach_ros.codepolicy.runtime import CodePolicyError, ObjectState, TeacherStep

# ---- what a program may use --------------------------------------------------------------------
API_NAMES = frozenset({
    "get_object", "move_gripper", "set_gripper", "increment_current_step", "set_done",
    "is_gripper_open", "np", "current_step", "gripper_default_position",
})
SAFE_BUILTINS = (
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "int",
    "isinstance", "len", "list", "map", "max", "min", "print", "range", "reversed", "round", "set",
    "sorted", "str", "sum", "tuple", "zip", "True", "False", "None",
    "Exception", "ValueError", "TypeError", "KeyError", "IndexError", "ZeroDivisionError",
    "ArithmeticError", "RuntimeError", "AssertionError",
)
# Names with a specific refusal message (they are not in the namespace anyway).
FORBIDDEN_NAMES = frozenset({
    "exec", "eval", "compile", "open", "getattr", "setattr", "delattr", "hasattr", "globals",
    "locals", "vars", "dir", "input", "breakpoint", "help", "type", "object", "super",
    "memoryview", "bytearray", "exit", "quit", "iter", "next", "classmethod", "staticmethod",
    "property", "BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit", "os",
    "sys", "importlib", "builtins", "subprocess", "pow", "chr", "ord", "id", "hash", "repr",
    "format", "bytes", "frozenset", "callable", "issubclass", "ascii", "bin", "hex", "oct",
})
NUMPY_NAMES = frozenset({
    "array", "asarray", "zeros", "ones", "full", "zeros_like", "ones_like", "full_like",
    "arange", "linspace", "eye", "identity", "copy", "concatenate", "stack", "hstack", "vstack",
    "dot", "matmul", "cross", "outer", "abs", "absolute", "sign", "sqrt", "square", "clip",
    "minimum", "maximum", "min", "max", "amin", "amax", "sum", "mean", "argmin", "argmax", "all",
    "any", "allclose", "isclose", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2",
    "hypot", "deg2rad", "rad2deg", "radians", "degrees", "round", "floor", "ceil", "exp", "log",
    "where", "isfinite", "isnan", "interp", "cumsum", "diff", "tile", "repeat", "transpose",
    "reshape", "float64", "float32", "int64", "int32", "bool_", "pi", "inf", "nan", "e",
    "linalg",
})
NUMPY_LINALG_NAMES = frozenset({"norm", "det", "inv"})
ATTRIBUTE_NAMES = frozenset({
    # CodePolicy object views
    "name", "position", "initial_position", "normal", "gripped", "can_be_gripped", "closed",
    # arrays (no methods that allocate by a count argument, no .dot/.clip: use np.*)
    "shape", "size", "ndim", "T", "copy", "tolist", "astype", "flatten", "ravel", "reshape",
    "sum", "mean", "min", "max", "any", "all", "argmin", "argmax", "round", "item",
    # lists, dicts, sets, strings
    "append", "extend", "pop", "insert", "index", "count", "sort", "reverse", "clear", "keys",
    "values", "items", "get", "update", "setdefault", "add", "discard", "lower", "upper",
    "strip", "startswith", "endswith",
})
CATCHABLE = frozenset({
    "Exception", "ValueError", "TypeError", "KeyError", "IndexError", "ZeroDivisionError",
    "ArithmeticError", "RuntimeError", "AssertionError",
})
_ALLOWED_NODES = (
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.If, ast.For, ast.While,
    ast.Break, ast.Continue, ast.Pass, ast.FunctionDef, ast.Return, ast.Lambda, ast.Try,
    ast.ExceptHandler, ast.Raise, ast.Assert, ast.Delete, ast.Global, ast.Nonlocal, ast.BoolOp,
    ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.keyword, ast.IfExp, ast.Attribute,
    ast.Subscript, ast.Slice, ast.Starred, ast.Name, ast.Constant, ast.List, ast.Tuple, ast.Dict,
    ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension,
    ast.JoinedStr, ast.FormattedValue, ast.NamedExpr, ast.arguments, ast.arg, ast.Load,
    ast.Store, ast.Del, ast.operator, ast.boolop, ast.unaryop, ast.cmpop,
)
_NODE_HINTS = {
    "Import": "imports are not allowed; np is already available",
    "ImportFrom": "imports are not allowed; np is already available",
    "ClassDef": "class definitions are not allowed",
    "With": "'with' statements are not allowed",
    "AsyncFunctionDef": "async code is not allowed",
    "AsyncFor": "async code is not allowed",
    "AsyncWith": "async code is not allowed",
    "Await": "async code is not allowed",
    "Yield": "generators (yield) are not allowed",
    "YieldFrom": "generators (yield) are not allowed",
    "Match": "match statements are not allowed",
    "TryStar": "except* is not allowed",
}
MAX_SOURCE_CHARS = 20_000


@dataclass(frozen=True)
class SandboxLimits:
    """Per-step limits of a sandboxed CodePolicy.

    time_limit_s: CPU time of the calling thread for one step (50 ms = one 20 Hz control period).
    max_ticks: loop iterations + function calls per step.
    max_elements: largest sequence / string / array (elements) the program may create.
    max_int_bits: largest integer (bits) the program may create.
    memory_limit_bytes: resident-memory growth allowed during one step.
    check_every: ticks between CPU-time / memory checks (a power of two).
    """

    time_limit_s: float = 0.05
    max_ticks: int = 200_000
    max_elements: int = 10_000
    max_int_bits: int = 4096
    memory_limit_bytes: int = 256 * 1024 * 1024
    check_every: int = 64

    def __post_init__(self):
        for name in ("time_limit_s", "max_ticks", "max_elements", "max_int_bits",
                     "memory_limit_bytes", "check_every"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"SandboxLimits.{name} must be positive, got {getattr(self, name)}")
        if self.check_every & (self.check_every - 1):
            raise ValueError(f"SandboxLimits.check_every must be a power of two, "
                             f"got {self.check_every}")


@dataclass
class Issue:
    """One static-validation finding."""

    lineno: int
    message: str

    def __str__(self) -> str:
        return f"line {self.lineno}: {self.message}"


class SandboxError(Exception):
    """A CodePolicy was refused or failed at run time; the caller should report, not crash.

    kind: 'syntax' | 'validation' | 'timeout' | 'memory' | 'limit' | 'runtime' | 'api'.
    """

    def __init__(self, kind: str, message: str, lineno: int | None = None,
                 issues: list[Issue] | None = None):
        self.kind = kind
        self.message = message
        self.lineno = lineno
        self.issues = list(issues or [])
        where = f" (line {lineno})" if lineno else ""
        super().__init__(f"[{kind}] {message}{where}")


class _LimitTripped(BaseException):  # noqa: N818 - internal signal, not an error type
    """Raised inside the program when a limit is hit; BaseException so `except Exception` in the
    program cannot swallow it."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# ---- static validation -------------------------------------------------------------------------
def _suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


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
    def __init__(self, tree: ast.Module, object_names):
        self.issues: list[Issue] = []
        self.bound = _bound_names(tree)
        self.known = set(API_NAMES) | set(SAFE_BUILTINS) | self.bound
        self.object_names = None if object_names is None else (
            {n.strip().lower() for n in object_names} | {"gripper"})
        self._in_comp_iter = 0

    def add(self, node, message):
        self.issues.append(Issue(getattr(node, "lineno", 0), message))

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
            self.add(node, f"unknown name {name!r}"
                     + _suggest(name, API_NAMES | set(SAFE_BUILTINS) | self.bound))

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
                self.add(node, f"np.{attr} is not available in a CodePolicy"
                         + _suggest(attr, NUMPY_NAMES))
        elif (isinstance(value, ast.Attribute) and value.attr == "linalg"
              and isinstance(value.value, ast.Name) and value.value.id == "np" and np_unbound):
            if attr not in NUMPY_LINALG_NAMES:
                self.add(node, f"np.linalg.{attr} is not available in a CodePolicy"
                         + _suggest(attr, NUMPY_LINALG_NAMES))
        elif attr not in ATTRIBUTE_NAMES:
            self.add(node, f"attribute {attr!r} is not available in a CodePolicy"
                     + _suggest(attr, ATTRIBUTE_NAMES))
        self.visit(value)

    def visit_Call(self, node):
        func = node.func
        if (self.object_names is not None and isinstance(func, ast.Name)
                and func.id == "get_object" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                and node.args[0].value.strip().lower() not in self.object_names):
            name = node.args[0].value
            self.add(node, f"get_object({name!r}): no such object; known objects: "
                     f"{sorted(self.object_names)}" + _suggest(name.lower(), self.object_names))
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
        self.visit(node.target)
        self._in_comp_iter += 1
        self.visit(node.iter)
        self._in_comp_iter -= 1
        for cond in node.ifs:
            self.visit(cond)

    def visit_Constant(self, node):
        if isinstance(node.value, bytes):
            self.add(node, "bytes literals are not allowed")


def validate_source(source: str, object_names=None) -> list[Issue]:
    """Static checks of a CodePolicy; returns the issues (empty list: accepted).

    object_names: the task's objects; when given, literal ``get_object('...')`` names are
    checked against them (plus 'gripper').
    """
    if not isinstance(source, str):
        return [Issue(0, f"source must be a string, got {type(source).__name__}")]
    if len(source) > MAX_SOURCE_CHARS:
        return [Issue(0, f"source is {len(source)} characters; the limit is {MAX_SOURCE_CHARS}")]
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        return [Issue(exc.lineno or 0, f"syntax error: {exc.msg}"
                      + (f": {exc.text.strip()!r}" if exc.text else ""))]
    except (ValueError, RecursionError, MemoryError) as exc:
        return [Issue(0, f"cannot parse: {type(exc).__name__}: {exc}")]
    validator = _Validator(tree, object_names)
    try:
        validator.visit(tree)
    except RecursionError:
        return [Issue(0, "program is nested too deeply")]
    return validator.issues


# ---- instrumentation ---------------------------------------------------------------------------
_TICK = "__sb_tick"
_GUARD_PREFIX = "__sb_"
_ARITH_OPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.MatMult: operator.matmul, ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod, ast.Pow: operator.pow, ast.LShift: operator.lshift,
    ast.RShift: operator.rshift, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
    ast.BitAnd: operator.and_,
}
_CMP_OPS = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])


def _tick_stmt() -> ast.Expr:
    return ast.Expr(value=_call(_TICK))


def _as_load(node: ast.expr) -> ast.expr:
    import copy
    node = copy.deepcopy(node)
    for sub in ast.walk(node):
        if hasattr(sub, "ctx"):
            sub.ctx = ast.Load()
    return node


def _const_number(node: ast.AST) -> type | None:
    """The type of a literal number (``3``, ``0.5``, ``-0.01``), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return type(node.value)
    return None


def _needs_guard(op: ast.operator, left: ast.AST, right: ast.AST) -> bool:
    """Whether ``left op right`` can create something bigger than its operands. With a literal
    number on one side: +, -, /, // cannot (a scalar never broadcasts an array up; int + int
    grows one bit); * cannot if the number is a float (no sequence repetition); **, <<, %, @
    and bitwise operators stay guarded."""
    kinds = (_const_number(left), _const_number(right))
    if isinstance(op, ast.Add | ast.Sub | ast.Div | ast.FloorDiv):
        return kinds == (None, None)
    if isinstance(op, ast.Mult):
        return float not in kinds
    return True


class _Instrumenter(ast.NodeTransformer):
    """Rewrites a *validated* tree: ticks in loops/functions/comprehensions, guarded operators
    (except where a literal scalar operand makes growth impossible, see :func:`_needs_guard`)."""

    def __init__(self):
        self._tmp = 0

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if not _needs_guard(node.op, node.left, node.right):
            return node
        name = f"{_GUARD_PREFIX}op_{type(node.op).__name__}"
        return ast.copy_location(_call(name, node.left, node.right), node)

    def _cmp(self, left, op, right):
        # A literal scalar (number, string, None, bool) on either side cannot broadcast.
        scalar = any(isinstance(x, ast.Constant) or _const_number(x) for x in (left, right))
        if type(op) in _CMP_OPS and not scalar:
            return _call(f"{_GUARD_PREFIX}cmp_{type(op).__name__}", left, right)
        return ast.Compare(left=left, ops=[op], comparators=[right])

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) == 1:
            return ast.copy_location(self._cmp(node.left, node.ops[0], node.comparators[0]), node)
        parts, left = [], node.left
        for i, (op, right) in enumerate(zip(node.ops, node.comparators)):
            if i < len(node.ops) - 1 and not _is_pure(right):
                self._tmp += 1
                tmp = f"{_GUARD_PREFIX}t{self._tmp}"
                right_expr = ast.NamedExpr(target=ast.Name(id=tmp, ctx=ast.Store()), value=right)
                parts.append(self._cmp(left, op, right_expr))
                left = ast.Name(id=tmp, ctx=ast.Load())
            else:
                parts.append(self._cmp(left, op, right))
                left = right
        return ast.copy_location(ast.BoolOp(op=ast.And(), values=parts), node)

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if not _needs_guard(node.op, node.target, node.value):
            return node
        name = f"{_GUARD_PREFIX}op_{type(node.op).__name__}"
        value = _call(name, _as_load(node.target), node.value)
        return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and not isinstance(node.slice, ast.Constant | ast.Slice):
            return ast.copy_location(_call(f"{_GUARD_PREFIX}getitem", node.value, node.slice),
                                     node)
        return node

    def _tick_body(self, node):
        self.generic_visit(node)
        node.body.insert(0, ast.copy_location(_tick_stmt(), node))
        return node

    visit_For = visit_While = visit_FunctionDef = _tick_body

    def visit_Lambda(self, node):
        self.generic_visit(node)
        node.body = ast.BoolOp(op=ast.And(), values=[_call(_TICK), node.body])
        return node

    def visit_comprehension(self, node):
        self.generic_visit(node)
        node.ifs.insert(0, _call(_TICK))
        return node


# ---- runtime guards ----------------------------------------------------------------------------
_SEQ_TYPES = (str, list, tuple, bytes)
_INT_TYPES = (int, np.integer)
_NDARRAY = np.ndarray
_F64 = np.dtype(float)


def _rss_reader():
    """Return a function giving the resident set size in bytes (or None where unavailable)."""
    try:
        fd = os.open("/proc/self/statm", os.O_RDONLY)
    except OSError:
        return lambda: None
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        return int(os.pread(fd, 64, 0).split()[1]) * page

    return rss


_RSS = _rss_reader()


class _Guards:
    """The runtime half of the sandbox: counters, clocks and size-checked operations."""

    def __init__(self, limits: SandboxLimits):
        self.limits = limits
        self.max_el = limits.max_elements
        self.ticks = 0
        self.deadline: float | None = None
        self.rss0: int | None = None
        self.tripped: _LimitTripped | None = None
        self.namespace = self._build()

    # -- per-step bookkeeping --
    def start(self):
        # The clocks start lazily at the first check (after `check_every` ticks): code without
        # loops or calls is bounded by its size and the size caps, and reading the thread CPU
        # clock costs ~0.5 us, a noticeable share of a ~20 us step.
        self.ticks = 0
        self.tripped = None
        self.deadline = None
        self.rss0 = None

    def finish(self):
        if self.deadline is not None:
            self.check()

    def trip(self, kind, message):
        self.tripped = _LimitTripped(kind, message)
        raise self.tripped

    def check(self):
        if self.tripped is not None:
            raise self.tripped
        lim = self.limits
        if self.ticks > lim.max_ticks:
            self.trip("limit", f"more than {lim.max_ticks} loop iterations / calls in one step")
        now = time.thread_time()
        if self.deadline is None:
            self.deadline = now + lim.time_limit_s
            self.rss0 = _RSS()
            return
        if now > self.deadline:
            self.trip("timeout", f"step exceeded its time limit of {lim.time_limit_s * 1e3:.0f} "
                      "ms (infinite loop?)")
        rss = _RSS()
        if rss is not None and self.rss0 is not None:
            if rss - self.rss0 > lim.memory_limit_bytes:
                self.trip("memory", f"step grew memory by {(rss - self.rss0) >> 20} MiB "
                          f"(limit {lim.memory_limit_bytes >> 20} MiB)")

    # -- size checks --
    def too_big(self, what, n):
        self.trip("memory", f"{what} would create {n} elements (limit {self.max_el})")

    def nelem(self, x, budget):
        """Element count of x (arrays, nested lists/tuples), stopping once above budget."""
        t = type(x)
        if t is _NDARRAY:
            return x.size
        if t is list or t is tuple:
            if len(x) > budget:
                return len(x)
            total = 0
            for item in x:
                total += self.nelem(item, budget - total) if type(item) in (
                    list, tuple, _NDARRAY) else 1
                if total > budget:
                    break
            return total
        return 1

    def check_broadcast_shapes(self, what, *shapes):
        try:
            shape = np.broadcast_shapes(*shapes)
        except ValueError:
            return  # not broadcastable: numpy raises its own error
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if size > self.max_el:
            self.too_big(what, size)

    def check_broadcast(self, what, arrays):
        n = 1
        for a in arrays:
            n *= a.size
        if n > self.max_el:
            try:
                shape = np.broadcast_shapes(*(a.shape for a in arrays))
            except ValueError:
                return  # not broadcastable: numpy raises its own error
            size = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if size > self.max_el:
                self.too_big(what, size)

    def _build(self) -> dict:
        g = self
        max_el = self.max_el
        max_bits = self.limits.max_int_bits
        check_every = self.limits.check_every - 1

        def tick():
            g.ticks += 1
            if not (g.ticks & check_every) or g.tripped is not None:
                g.check()
            return True

        def array_operands(what, a, b, ta, tb):
            """Refuse an array operation whose broadcast result would be too big."""
            sa = a.size if ta is _NDARRAY else (g.nelem(a, max_el) if ta is list or ta is tuple
                                                else 1)
            sb = b.size if tb is _NDARRAY else (g.nelem(b, max_el) if tb is list or tb is tuple
                                                else 1)
            if sa * sb > max_el:
                g.check_broadcast_shapes(what, np.shape(a), np.shape(b))

        def arith(opname, fn):
            is_mul = opname == "Mult"
            is_pow = opname == "Pow"
            is_shift = opname == "LShift"
            is_mod = opname == "Mod"
            what = f"'{opname}' of arrays"

            def guarded(a, b):
                ta, tb = type(a), type(b)
                # With an array, only two array-likes can broadcast beyond the larger one's
                # size; they are checked before numpy allocates (the result is then bounded
                # by the product of the sizes, so no check after).
                if ta is _NDARRAY:
                    if tb is _NDARRAY:
                        if a.size * b.size > max_el:
                            array_operands(what, a, b, ta, tb)
                    elif tb is list or tb is tuple:
                        array_operands(what, a, b, ta, tb)
                    return fn(a, b)
                if tb is _NDARRAY:
                    if ta is list or ta is tuple:
                        array_operands(what, a, b, ta, tb)
                    return fn(a, b)
                if ta is float and (tb is float or tb is int):
                    return fn(a, b)
                if is_mul:
                    if ta in _SEQ_TYPES and isinstance(b, _INT_TYPES):
                        if len(a) * int(b) > max_el:
                            g.too_big("sequence repetition", len(a) * int(b))
                    elif tb in _SEQ_TYPES and isinstance(a, _INT_TYPES):
                        if len(b) * int(a) > max_el:
                            g.too_big("sequence repetition", len(b) * int(a))
                    elif ta is int and tb is int and a.bit_length() + b.bit_length() > max_bits:
                        g.trip("memory", f"integer product above {max_bits} bits")
                elif is_pow:
                    if isinstance(a, _INT_TYPES) and isinstance(b, _INT_TYPES) and b > 0 \
                            and abs(int(a)) > 1:
                        bits = int(b) * abs(int(a)).bit_length()
                        if bits > max_bits:
                            g.trip("memory", f"{a!r} ** {b!r} would have ~{bits} bits "
                                   f"(limit {max_bits})")
                elif is_shift:
                    if isinstance(a, _INT_TYPES) and isinstance(b, _INT_TYPES) and \
                            int(b) + abs(int(a)).bit_length() > max_bits:
                        g.trip("memory", f"<< would create an integer above {max_bits} bits")
                elif is_mod and ta in (str, bytes):
                    g.trip("limit", "'%' string formatting is not allowed; use an f-string")
                r = fn(a, b)
                if type(r) in _SEQ_TYPES and len(r) > max_el:
                    g.too_big(f"'{opname}'", len(r))
                return r

            return guarded

        def compare(opname, fn):
            what = f"comparison '{opname}' of arrays"

            def guarded(a, b):
                ta, tb = type(a), type(b)
                if ta is _NDARRAY:
                    if tb is _NDARRAY:
                        if a.size * b.size > max_el:
                            array_operands(what, a, b, ta, tb)
                    elif tb is list or tb is tuple:
                        array_operands(what, a, b, ta, tb)
                elif tb is _NDARRAY and (ta is list or ta is tuple):
                    array_operands(what, a, b, ta, tb)
                return fn(a, b)

            return guarded

        def getitem(a, idx):
            t = type(idx)
            if t is int or t is slice or type(a) is not _NDARRAY:
                return a[idx]
            # Fancy indexing can multiply sizes; refuse conservatively before numpy allocates.
            parts = idx if t is tuple else (idx,)
            n = a.size
            for p in parts:
                if type(p) is _NDARRAY:
                    n *= p.size
                elif type(p) is list:
                    n *= g.nelem(p, max_el)
            if n > max_el:
                g.too_big("array indexing with index arrays", n)
            return a[idx]

        def safe_range(*args):
            r = range(*args)
            if len(r) > max_el * 10:
                g.too_big("range()", len(r))
            return r

        def safe_sum(iterable, start=0):
            if not isinstance(start, int | float | np.number | _NDARRAY):
                g.trip("limit", "sum() start must be a number")
            return sum(iterable, start)

        def no_print(*args, **kwargs):
            return None

        ns = {_TICK: tick, f"{_GUARD_PREFIX}getitem": getitem}
        for op_cls, fn in _ARITH_OPS.items():
            ns[f"{_GUARD_PREFIX}op_{op_cls.__name__}"] = arith(op_cls.__name__, fn)
        for op_cls, fn in _CMP_OPS.items():
            ns[f"{_GUARD_PREFIX}cmp_{op_cls.__name__}"] = compare(op_cls.__name__, fn)
        import builtins
        safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS
                if name not in ("True", "False", "None")}
        safe.update(range=safe_range, sum=safe_sum, print=no_print)
        ns["__builtins__"] = safe
        ns["np"] = _numpy_proxy(self)
        return ns


class _Namespace:
    """A plain attribute bag (the sandbox's ``np`` and ``np.linalg``); no dunder tricks needed:
    programs cannot reach attributes starting with '_'."""

    __slots__ = ("__dict__",)

    def __init__(self, **items):
        self.__dict__.update(items)


def _numpy_proxy(g: _Guards) -> _Namespace:
    max_el = g.max_el

    def count(shape):
        if isinstance(shape, _INT_TYPES):
            return int(shape)
        n = 1
        for s in shape:
            n *= int(s)
        return n

    def pre_shape(fn, what):
        def wrapped(shape, *args, **kwargs):
            n = count(shape)
            if n > max_el:
                g.too_big(what, n)
            return fn(shape, *args, **kwargs)
        return wrapped

    def generic(fn, what):
        def wrapped(*args, **kwargs):
            if len(args) == 1 and not kwargs and type(args[0]) is _NDARRAY:
                # One array in: every whitelisted function returns at most its size.
                return fn(args[0])
            arrays = []
            for a in (*args, *kwargs.values()):
                ta = type(a)
                if ta is _NDARRAY:
                    arrays.append(a)
                elif ta is list or ta is tuple:
                    n = g.nelem(a, max_el)
                    if n > max_el:
                        g.too_big(what, n)
            if len(arrays) > 1:
                g.check_broadcast(what, arrays)
            r = fn(*args, **kwargs)
            if type(r) is _NDARRAY and r.size > max_el:
                g.too_big(what, r.size)
            return r
        return wrapped

    def arange(*args, **kwargs):
        try:
            n = len(range(*(int(np.ceil(a)) for a in args))) if args else 0
        except (TypeError, ValueError):
            n = 0
        if len(args) >= 1 and n > max_el:
            g.too_big("np.arange", n)
        r = np.arange(*args, **kwargs)
        if r.size > max_el:
            g.too_big("np.arange", r.size)
        return r

    def linspace(start, stop, num=50, *args, **kwargs):
        if int(num) > max_el:
            g.too_big("np.linspace", int(num))
        return np.linspace(start, stop, num, *args, **kwargs)

    def eye(n, m=None, *args, **kwargs):
        size = int(n) * int(n if m is None else m)
        if size > max_el:
            g.too_big("np.eye", size)
        return np.eye(n, m, *args, **kwargs)

    def tile(a, reps):
        size = np.size(a) * count(reps)
        if size > max_el:
            g.too_big("np.tile", size)
        return np.tile(a, reps)

    def repeat(a, repeats, axis=None):
        size = np.size(a) * int(np.max(repeats) if np.ndim(repeats) else repeats)
        if size > max_el:
            g.too_big("np.repeat", size)
        return np.repeat(a, repeats, axis=axis)

    def outer(a, b):
        size = np.size(a) * np.size(b)
        if size > max_el:
            g.too_big("np.outer", size)
        return np.outer(a, b)

    def matmul_like(fn, what):
        def wrapped(a, b, *args, **kwargs):
            sa, sb = np.shape(a), np.shape(b)
            if np.size(a) * np.size(b) > max_el and len(sa) >= 1 and len(sb) >= 1:
                out = (sa[:-1] or (1,)) + (sb[:-2] + sb[-1:] if len(sb) >= 2 else ())
                n = count(out)
                if n > max_el:
                    g.too_big(what, n)
            return fn(a, b, *args, **kwargs)
        return wrapped

    generic_all, generic_any = generic(np.all, "np.all"), generic(np.any, "np.any")
    generic_norm = generic(np.linalg.norm, "np.linalg.norm")

    # Fast paths for the calls every CodePolicy makes on 3-vectors (same results as numpy's).
    # (np.all/np.any of a short 1-D array through Python's all/any on .tolist(): same np.bool_
    # result, a third of numpy's reduction overhead.)
    def fast_all(a, *args, **kwargs):
        if type(a) is _NDARRAY and a.ndim == 1 and a.size <= 16 and not args and not kwargs:
            return np.True_ if all(a.tolist()) else np.False_
        return generic_all(a, *args, **kwargs)

    def fast_any(a, *args, **kwargs):
        if type(a) is _NDARRAY and a.ndim == 1 and a.size <= 16 and not args and not kwargs:
            return np.True_ if any(a.tolist()) else np.False_
        return generic_any(a, *args, **kwargs)

    def fast_norm(x, *args, **kwargs):
        if (type(x) is _NDARRAY and x.ndim == 1 and x.dtype == _F64 and not args
                and not kwargs):
            return np.float64(math.sqrt(x.dot(x)))
        return generic_norm(x, *args, **kwargs)

    special = {
        "all": fast_all, "any": fast_any,
        "zeros": pre_shape(np.zeros, "np.zeros"), "ones": pre_shape(np.ones, "np.ones"),
        "full": pre_shape(np.full, "np.full"), "identity": eye, "eye": eye, "arange": arange,
        "linspace": linspace, "tile": tile, "repeat": repeat, "outer": outer,
        "dot": matmul_like(np.dot, "np.dot"), "matmul": matmul_like(np.matmul, "np.matmul"),
    }
    items = {}
    for name in NUMPY_NAMES:
        if name == "linalg":
            continue
        obj = getattr(np, name)
        if name in special:
            items[name] = special[name]
        elif isinstance(obj, np.ufunc) and obj.nin == 1:
            # Unary ufuncs return their input's size (an ``out`` array must already exist) and
            # their methods (.outer, .reduce, .at) are not reachable: no wrapper needed.
            items[name] = obj
        elif callable(obj) and not isinstance(obj, type):
            items[name] = generic(obj, f"np.{name}")
        else:
            items[name] = obj  # constants and dtypes
    linalg = {n: generic(getattr(np.linalg, n), f"np.linalg.{n}") for n in NUMPY_LINALG_NAMES}
    linalg["norm"] = fast_norm
    items["linalg"] = _Namespace(**linalg)
    return _Namespace(**items)


# ---- the sandboxed policy ----------------------------------------------------------------------
@dataclass
class StepOutcome:
    """Result of :meth:`SandboxedPolicy.try_step`: a step, or the error that replaced it."""

    step: TeacherStep | None
    error: SandboxError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class CompiledPolicy:
    """A validated, instrumented and compiled CodePolicy."""

    source: str
    code: object
    filename: str
    issues: list[Issue] = field(default_factory=list)


def compile_policy(source: str, object_names=None,
                   filename: str = "<codepolicy>") -> CompiledPolicy:
    """Validate, instrument and compile; raises SandboxError('syntax'|'validation')."""
    issues = validate_source(source, object_names)
    if issues:
        kind = "syntax" if issues[0].message.startswith("syntax error") else "validation"
        summary = "; ".join(str(i) for i in issues[:6])
        more = f" (+{len(issues) - 6} more)" if len(issues) > 6 else ""
        raise SandboxError(kind, f"CodePolicy rejected: {summary}{more}",
                           lineno=issues[0].lineno, issues=issues)
    tree = ast.parse(source, filename=filename)
    tree = ast.fix_missing_locations(_Instrumenter().visit(tree))
    try:
        code = compile(tree, filename, "exec")
    except (SyntaxError, ValueError, RecursionError) as exc:  # e.g. walrus in odd places
        raise SandboxError("validation", f"CodePolicy cannot be compiled: {exc}",
                           lineno=getattr(exc, "lineno", None)) from None
    return CompiledPolicy(source=source, code=code, filename=filename)


# "FastExecutor._move_gripper() got an unexpected keyword" -> "move_gripper() got ..."
_INTERNAL_NAME_RE = re.compile(r"\b\w*Executor\._(\w+)\(\)")


def _program_lineno(exc: BaseException, filename: str) -> int | None:
    tb, lineno = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


class SandboxedPolicy:
    """Runs an untrusted CodePolicy: validated once, compiled once, guarded every step.

    ``step(objects)`` returns the :class:`TeacherStep` or raises :class:`SandboxError`;
    ``try_step(objects)`` never raises for program faults. After an error the policy keeps its
    state (the failed step did not advance ``current_step``) and may be stepped again.
    """

    def __init__(self, source: str, object_names=None, limits: SandboxLimits | None = None,
                 filename: str = "<codepolicy>"):
        self.limits = limits or SandboxLimits()
        self.compiled = compile_policy(source, object_names, filename)
        self.source = source
        self.filename = filename
        self._guards = _Guards(self.limits)
        self.executor = FastExecutor(self.compiled.code, filename,
                                     extra_globals=self._guards.namespace)

    @property
    def current_step(self) -> int:
        return self.executor.current_step

    @property
    def done(self) -> bool:
        return self.executor.done

    def reset(self) -> None:
        self.executor.reset()

    def step(self, objects: dict[str, ObjectState]) -> TeacherStep:
        ex = self.executor
        guards = self._guards
        try:
            ns = ex.begin(objects)
        except CodePolicyError as exc:
            raise SandboxError("api", str(exc)) from None
        guards.ticks, guards.tripped, guards.deadline = 0, None, None  # guards.start(), inlined
        try:
            exec(self.compiled.code, ns)  # noqa: S102 - validated and instrumented above
        except _LimitTripped as exc:
            raise SandboxError(exc.kind, str(exc), _program_lineno(exc, self.filename)) from None
        except CodePolicyError as exc:
            raise SandboxError("api", str(exc), _program_lineno(exc, self.filename)) from None
        except RecursionError:
            raise SandboxError("limit", "recursion too deep") from None
        except MemoryError:
            raise SandboxError("memory", "out of memory") from None
        except Exception as exc:  # noqa: BLE001 - any program fault becomes a report
            text = _INTERNAL_NAME_RE.sub(r"\1()", f"{type(exc).__name__}: {exc}")
            raise SandboxError("runtime", text, _program_lineno(exc, self.filename)) from None
        if guards.deadline is not None:  # the clocks were started: check once more
            try:
                guards.check()
            except _LimitTripped as exc:
                raise SandboxError(exc.kind, str(exc)) from None
        try:
            return ex.finish()
        except CodePolicyError as exc:
            raise SandboxError("api", str(exc)) from None

    def try_step(self, objects: dict[str, ObjectState]) -> StepOutcome:
        try:
            return StepOutcome(self.step(objects))
        except SandboxError as exc:
            return StepOutcome(None, exc)


def load_policy(source: str, object_names=None, limits: SandboxLimits | None = None,
                filename: str = "<codepolicy>") -> SandboxedPolicy:
    """Shorthand for :class:`SandboxedPolicy` (raises SandboxError when the source is refused)."""
    return SandboxedPolicy(source, object_names, limits, filename)


__all__ = [
    "API_NAMES", "ATTRIBUTE_NAMES", "NUMPY_NAMES", "SAFE_BUILTINS", "CompiledPolicy", "Issue",
    "SandboxError", "SandboxLimits", "SandboxedPolicy", "StepOutcome", "compile_policy",
    "load_policy", "validate_source",
]
