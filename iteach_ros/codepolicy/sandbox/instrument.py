"""Instrumentation of a validated AST, then compilation.

Every loop body, function body, lambda and comprehension ticks a counter; operators that can
grow their operands, comparisons, non-constant subscripts, subscript assignments, f-string
fields, ``*`` unpackings in displays and the size-dependent methods (``GUARDED_METHODS``) go
through a guard (``guarded_ops.py``); every ``except`` handler starts with ``__sb_catch(exc)``,
so limits, recursion and API faults cannot be caught. Straight-line arithmetic with a literal
scalar operand pays nothing (see :func:`_needs_guard`).
"""

from __future__ import annotations

import ast
import copy
import operator
from dataclasses import dataclass, field

from iteach_ros.codepolicy.sandbox.errors import Issue, SandboxError
from iteach_ros.codepolicy.sandbox.validate import _is_pure, validate_source
from iteach_ros.codepolicy.sandbox.whitelist import GUARDED_METHODS

# Names of the guards in the program's namespace (the program cannot name anything with '_').
PREFIX = "__sb_"
TICK = PREFIX + "tick"
CATCH = PREFIX + "catch"
GETITEM = PREFIX + "getitem"
SETITEM = PREFIX + "setitem"
STAR = PREFIX + "star"
FMT = PREFIX + "fmt"
OP, CMP, METHOD = PREFIX + "op_", PREFIX + "cmp_", PREFIX + "m_"
EXC_NAME = PREFIX + "exc"

ARITH_OPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.MatMult: operator.matmul, ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod, ast.Pow: operator.pow, ast.LShift: operator.lshift,
    ast.RShift: operator.rshift, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
    ast.BitAnd: operator.and_,
}
CMP_OPS = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


def _name(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_name(name), args=list(args), keywords=[])


def _as_load(node: ast.expr) -> ast.expr:
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
    """Rewrites a *validated* tree (the validator guarantees the shapes handled here: one
    subscript target per assignment, guarded methods only called directly)."""

    def __init__(self):
        self._tmp = 0

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if not _needs_guard(node.op, node.left, node.right):
            return node
        return ast.copy_location(_call(OP + type(node.op).__name__, node.left, node.right), node)

    def _cmp(self, left, op, right):
        # A literal scalar (number, string, None, bool) on either side cannot broadcast or nest.
        scalar = any(isinstance(x, ast.Constant) or _const_number(x) for x in (left, right))
        if type(op) in CMP_OPS and not scalar:
            return _call(CMP + type(op).__name__, left, right)
        return ast.Compare(left=left, ops=[op], comparators=[right])

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) == 1:
            return ast.copy_location(self._cmp(node.left, node.ops[0], node.comparators[0]), node)
        parts, left = [], node.left
        for i, (op, right) in enumerate(zip(node.ops, node.comparators)):
            if i < len(node.ops) - 1 and not _is_pure(right):
                self._tmp += 1
                tmp = f"{PREFIX}t{self._tmp}"
                right_expr = ast.NamedExpr(target=ast.Name(id=tmp, ctx=ast.Store()), value=right)
                parts.append(self._cmp(left, op, right_expr))
                left = _name(tmp)
            else:
                parts.append(self._cmp(left, op, right))
                left = right
        return ast.copy_location(ast.BoolOp(op=ast.And(), values=parts), node)

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if not _needs_guard(node.op, node.target, node.value):
            return node
        value = _call(OP + type(node.op).__name__, _as_load(node.target), node.value)
        return self._assign(node.target, value, node)

    def visit_Assign(self, node):
        self.generic_visit(node)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript):
            return self._assign(node.targets[0], node.value, node)
        return node

    def visit_AnnAssign(self, node):
        self.generic_visit(node)
        if isinstance(node.target, ast.Subscript) and node.value is not None:
            return self._assign(node.target, node.value, node)
        return node

    def _assign(self, target, value, node):
        """``target = value``; a subscript target goes through setitem (Python's
        order: the value first, then the container, then the key)."""
        if not isinstance(target, ast.Subscript):
            return ast.copy_location(ast.Assign(targets=[target], value=value), node)
        # (An ast.Slice as an argument compiles to a slice object.)
        call = _call(SETITEM, value, target.value, target.slice)
        return ast.copy_location(ast.Expr(value=call), node)

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and not isinstance(node.slice, ast.Constant | ast.Slice):
            return ast.copy_location(_call(GETITEM, node.value, node.slice), node)
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in GUARDED_METHODS and not (
                isinstance(func.value, ast.Name) and func.value.id == "np"):  # np.sum: guarded
            return ast.copy_location(ast.Call(func=_name(METHOD + func.attr),
                                              args=[func.value, *node.args],
                                              keywords=node.keywords), node)
        return node

    def visit_FormattedValue(self, node):
        self.generic_visit(node)
        node.value = _call(FMT, node.value)
        return node

    def _displays(self, node):
        self.generic_visit(node)
        for elt in node.elts:
            if isinstance(elt, ast.Starred):
                elt.value = _call(STAR, elt.value)
        return node

    visit_List = visit_Tuple = visit_Set = _displays

    def visit_ExceptHandler(self, node):
        self.generic_visit(node)
        if node.name is None:
            node.name = EXC_NAME
        node.body.insert(0, ast.copy_location(ast.Expr(value=_call(CATCH, _name(node.name))),
                                              node))
        return node

    def _tick_body(self, node):
        self.generic_visit(node)
        node.body.insert(0, ast.copy_location(ast.Expr(value=_call(TICK)), node))
        return node

    visit_For = visit_While = visit_FunctionDef = _tick_body

    def visit_Lambda(self, node):
        self.generic_visit(node)
        node.body = ast.BoolOp(op=ast.And(), values=[_call(TICK), node.body])
        return node

    def visit_comprehension(self, node):
        self.generic_visit(node)
        node.ifs.insert(0, _call(TICK))
        return node


@dataclass
class CompiledPolicy:
    """A validated, instrumented and compiled CodePolicy."""

    source: str
    code: object
    filename: str
    issues: list[Issue] = field(default_factory=list)


def compile_policy(source: str, object_names=None, filename: str = "<codepolicy>",
                   time_limit_s: float | None = None) -> CompiledPolicy:
    """Validate, instrument and compile; raises SandboxError ('syntax', 'validation', 'input').

    time_limit_s: the validation's time limit (default: validate_source's).
    """
    if not isinstance(filename, str):
        raise SandboxError("input", f"filename must be a string, got {type(filename).__name__}")
    kwargs = {} if time_limit_s is None else {"time_limit_s": time_limit_s}
    issues = validate_source(source, object_names, **kwargs)
    if issues:
        kind = "syntax" if issues[0].message.startswith("syntax error") else "validation"
        summary = "; ".join(str(i) for i in issues[:6])
        more = f" (+{len(issues) - 6} more)" if len(issues) > 6 else ""
        raise SandboxError(kind, f"CodePolicy rejected: {summary}{more}",
                           lineno=issues[0].lineno, issues=issues)
    try:
        tree = ast.parse(source, filename=filename)
        tree = ast.fix_missing_locations(_Instrumenter().visit(tree))
        code = compile(tree, filename, "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError,
            SystemError) as exc:  # e.g. nested too deeply once instrumented
        raise SandboxError("validation", f"CodePolicy cannot be compiled: "
                           f"{type(exc).__name__}: {str(exc)[:200]}",
                           lineno=getattr(exc, "lineno", None)) from None
    return CompiledPolicy(source=source, code=code, filename=filename)
