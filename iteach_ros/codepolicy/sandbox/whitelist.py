"""What a CodePolicy may use: the whitelist of syntax, names, attributes and numpy functions.

The whitelist is the sandbox's security boundary: a new numpy function or method must be reviewed
before it is added here (the guards bound sizes and time, they do not make a function safe).
"""

from __future__ import annotations

import ast

from iteach_ros.codepolicy.runtime import OBJECT_ATTRIBUTE_NAMES

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
    # CodePolicy object views (runtime.OBJECT_ATTRIBUTES)
    *OBJECT_ATTRIBUTE_NAMES,
    # arrays (no methods that allocate by a count argument, no .dot/.clip: use np.*)
    "shape", "size", "ndim", "T", "copy", "tolist", "astype", "flatten", "ravel", "reshape",
    "sum", "mean", "min", "max", "any", "all", "argmin", "argmax", "round", "item",
    # lists, dicts, sets, strings
    "append", "extend", "pop", "insert", "index", "count", "sort", "reverse", "clear", "keys",
    "values", "items", "get", "update", "setdefault", "add", "discard", "lower", "upper",
    "strip", "startswith", "endswith",
})
# Methods whose cost or result size depends on their arguments: every call goes through a guard
# (``guarded_ops.py``), so a program may only call them directly (``x.extend(y)``), not take them
# as values (``f = x.extend``).
GUARDED_METHODS = frozenset({"extend", "count", "index", "sort", "astype", "sum", "mean", "round"})
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
MAX_FSTRING_FIELDS = 32  # replacement fields in one f-string (each is size-checked)
MAX_STARRED = 8  # *unpackings in one list / tuple / set display (each is size-checked)

