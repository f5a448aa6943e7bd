"""The ``np`` a CodePolicy sees: the whitelisted numpy functions behind size and dtype checks.

Every function measures what it would allocate, in bytes, before numpy runs (its own shape
arithmetic: ``arange`` with a float step, ``linspace`` with array endpoints, ``*_like`` with a
``shape``, ``matmul`` of stacks, ``tile``/``repeat``/``outer``), refuses non-numeric data and
dtypes (strings, objects, subarrays, records: their elements are not bounded by a count) and
checks the result's dtype and size. The dtype names (``np.float64``, ...) are conversions with
the same checks when called, and the numpy types when passed as a dtype.
"""

from __future__ import annotations

import math

import numpy as np

from iteach_ros.codepolicy.sandbox.guards import Guards, matmul_size
from iteach_ros.codepolicy.sandbox.whitelist import NUMPY_LINALG_NAMES, NUMPY_NAMES

_INT_TYPES = (int, np.integer)
_NDARRAY = np.ndarray
_F64 = np.dtype(float)
_MAX_OPTION_CHARS = 16  # string arguments are options ('fro', 'C') or dtype names, not data


class _Namespace:
    """A plain attribute bag (the sandbox's ``np`` and ``np.linalg``); no dunder tricks needed:
    programs cannot reach attributes starting with '_'."""

    __slots__ = ("__dict__",)

    def __init__(self, **items):
        self.__dict__.update(items)


class _Dtype:
    """``np.float64`` and the other dtype names in a program: called, a checked conversion;
    passed to a sandbox function as a dtype, the numpy type."""

    __slots__ = ("type", "_convert")

    def __init__(self, numpy_type, convert):
        self.type = numpy_type
        self._convert = convert

    def __call__(self, *args, **kwargs):
        return self._convert(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<sandboxed np.{self.type.__name__}>"


def unwrap(value):
    """The numpy type behind a sandboxed dtype name (other values unchanged)."""
    return value.type if type(value) is _Dtype else value


def _number(what: str, x) -> float | int:
    if isinstance(x, (bool, *_INT_TYPES)):
        return int(x)
    if isinstance(x, float | np.floating) or (type(x) is _NDARRAY and x.ndim == 0):
        return float(x)
    raise TypeError(f"{what} expects real numbers, got {type(x).__name__}")


def numpy_proxy(g: Guards) -> _Namespace:
    max_bytes = g.max_bytes

    def itemsize(what, dtype, default=8):
        dt = g.check_dtype(what, unwrap(dtype))
        return default if dt is None else dt.itemsize

    def cap(what, n, size):
        if n * size > max_bytes:
            g.too_big(what, n, n * size)

    def count(what, shape) -> int:
        """Elements of an array of ``shape`` (negative sizes count as their magnitude: numpy
        refuses them anyway)."""
        if isinstance(shape, _INT_TYPES):
            return abs(int(shape))
        if type(shape) is _NDARRAY:
            shape = shape.tolist()
        if type(shape) not in (tuple, list) or g.count_data(what, shape) > 64:
            raise TypeError(f"{what}: a shape is an int or a short tuple of ints")
        n = 1
        for s in shape:
            if not isinstance(s, _INT_TYPES):
                raise TypeError(f"{what}: a shape is an int or a short tuple of ints")
            n *= abs(int(s))
        return n

    def data(what, x) -> tuple[int, int]:
        """(elements, itemsize) of an array-like argument, its leaves checked."""
        if type(x) is _NDARRAY:
            return x.size, x.itemsize
        return g.count_data(what, x), 16 if isinstance(x, complex) else 8

    def check_args(what, args, kwargs):
        """Checks every argument of a generic function; returns them with dtype names
        unwrapped. Data must be numeric, broadcasts must fit, strings are options."""
        arrays, lists = [], []
        out_args = [check_arg(what, a, arrays, lists) for a in args]
        out_kwargs = {k: check_arg(what, v, arrays, lists) for k, v in kwargs.items()}
        if len(arrays) + len(lists) > 1:
            n, size = 1, 8
            for a in arrays:
                n *= a.size
                size = max(size, a.itemsize)
            for _a, count_a in lists:
                n *= count_a
            if n * size > max_bytes:
                shapes = [a.shape for a in arrays]
                for a, _ in lists:
                    try:
                        shapes.append(np.shape(a))
                    except ValueError:
                        pass  # ragged: numpy raises its own error
                g.broadcast_bytes(what, shapes, size)
        return out_args, out_kwargs

    def check_arg(what, a, arrays, lists):
        t = type(a)
        if t is _NDARRAY:
            arrays.append(a)
        elif t is list or t is tuple:
            n = g.count_data(what, a)
            if n > g.max_seq:
                g.too_big(what, n)
            lists.append((a, n))
        elif t is str:
            if len(a) > _MAX_OPTION_CHARS:
                g.refuse(what, "strings are options or dtype names here, not data")
            g.check_dtype(what, a)
        elif t is _Dtype:
            return a.type
        elif isinstance(a, type | np.dtype):
            g.check_dtype(what, a)
        return a

    def short_numbers(a) -> bool:
        """A short flat list or tuple of floats and small ints (np.array([0.0, 0.0, 0.1]))."""
        if len(a) > 16:
            return False
        for x in a:
            t = type(x)
            if t is not float and not (t is int and -(2**62) < x < 2**62):
                return False
        return True

    def small(args) -> bool:
        """Numeric arrays and plain scalars whose broadcast is within the cap: the common call
        (np.cross(a, b), np.clip(x, -1.0, 1.0), np.round(a, 2)) needs no further checks."""
        n = 1
        for a in args:
            t = type(a)
            if t is _NDARRAY:
                n *= a.size
            elif not (t is float or t is bool or (t is int and -(2**62) < a < 2**62)):
                return False
        return n * 16 <= max_bytes

    def generic(fn, what):
        def wrapped(*args, **kwargs):
            if not kwargs:
                if len(args) == 1:
                    # One numeric array (or a few numbers) in: every whitelisted function
                    # returns a numeric result of at most its size (np.where: one index array
                    # per dimension).
                    a = args[0]
                    t = type(a)
                    if t is _NDARRAY or ((t is list or t is tuple) and short_numbers(a)):
                        return fn(a)
                elif small(args):
                    return fn(*args)
            g.pulse()
            args, kwargs = check_args(what, args, kwargs)
            return g.check_array(what, fn(*args, **kwargs))
        return wrapped

    def zeros_or_ones(fn, what):
        def wrapped(shape, dtype=None, order="C"):
            cap(what, count(what, shape), itemsize(what, dtype))
            return g.check_array(what, fn(shape, unwrap(dtype) or float, order))
        return wrapped

    def full(shape, fill_value, dtype=None, order="C"):
        n_fill, size = data("np.full", fill_value)
        size = itemsize("np.full", dtype, size)
        cap("np.full", max(count("np.full", shape), n_fill), size)
        return g.check_array("np.full", np.full(shape, fill_value, unwrap(dtype), order))

    def like(fn, what, n, size, dtype, shape):
        if shape is not None:
            n = count(what, shape)
        cap(what, n, itemsize(what, dtype, size))

    def zeros_or_ones_like(fn, what):
        def wrapped(a, dtype=None, order="K", subok=True, shape=None):
            like(fn, what, *data(what, a), dtype, shape)
            return g.check_array(what, fn(a, unwrap(dtype), order, subok, shape))
        return wrapped

    def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None):
        data("np.full_like", fill_value)
        like(np.full_like, "np.full_like", *data("np.full_like", a), dtype, shape)
        return g.check_array("np.full_like", np.full_like(a, fill_value, unwrap(dtype), order,
                                                          subok, shape))

    def eye(N, M=None, k=0, dtype=float, order="C"):  # noqa: N803 - numpy's names
        cap("np.eye", abs(int(N)) * abs(int(N if M is None else M)), itemsize("np.eye", dtype))
        return g.check_array("np.eye", np.eye(N, M, k, unwrap(dtype), order))

    def identity(n, dtype=None):
        cap("np.identity", abs(int(n)) ** 2, itemsize("np.identity", dtype))
        return g.check_array("np.identity", np.identity(n, unwrap(dtype)))

    def arange(start, stop=None, step=None, dtype=None):
        lo, hi = (0, start) if stop is None else (start, stop)
        lo, hi = _number("np.arange", lo), _number("np.arange", hi)
        st = 1 if step is None else _number("np.arange", step)
        if st == 0:
            raise ZeroDivisionError("np.arange: step is zero")
        if all(type(v) is int for v in (lo, hi, st)):
            n = len(range(lo, hi, st))
        else:
            span = (float(hi) - float(lo)) / float(st)
            if not math.isfinite(span):
                raise ValueError("np.arange: arguments must be finite")
            n = max(0, math.ceil(span))
        cap("np.arange", n, itemsize("np.arange", dtype))
        return g.check_array("np.arange", np.arange(start, stop, step, dtype=unwrap(dtype)))

    def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
        if not isinstance(num, _INT_TYPES) or num < 0:
            raise ValueError(f"np.linspace: num must be a non-negative int, got {num!r}")
        n_start, n_stop = data("np.linspace", start)[0], data("np.linspace", stop)[0]
        cap("np.linspace", int(num) * max(n_start, n_stop, 1), itemsize("np.linspace", dtype))
        if n_start > 1 and n_stop > 1:
            g.broadcast_bytes("np.linspace", [(int(num),) + np.shape(start),
                                              (int(num),) + np.shape(stop)], 8)
        return g.check_array("np.linspace", np.linspace(start, stop, num, endpoint, retstep,
                                                        unwrap(dtype), axis))

    def tile(A, reps):  # noqa: N803 - numpy's name
        n, size = data("np.tile", A)
        cap("np.tile", n * count("np.tile", reps), size)
        return g.check_array("np.tile", np.tile(A, reps))

    def repeat(a, repeats, axis=None):
        n, size = data("np.repeat", a)
        data("np.repeat", repeats)
        most = int(np.max(np.abs(repeats))) if np.size(repeats) else 0
        cap("np.repeat", n * most, size)
        return g.check_array("np.repeat", np.repeat(a, repeats, axis=axis))

    def outer(a, b, out=None):
        (na, sa), (nb, sb) = data("np.outer", a), data("np.outer", b)
        cap("np.outer", na * nb, max(sa, sb))
        return g.check_array("np.outer", np.outer(a, b, out))

    def matmul_like(fn, what):
        def wrapped(a, b, *args, **kwargs):
            if not args and not kwargs and small((a, b)):
                return fn(a, b)
            (na, sa), (nb, sb) = data(what, a), data(what, b)
            size = max(sa, sb)
            if na * nb * size > max_bytes and np.ndim(a) >= 1 and np.ndim(b) >= 1:
                cap(what, matmul_size(np.shape(a), np.shape(b)), size)
            args, kwargs = check_args(what, args, kwargs)
            return g.check_array(what, fn(a, b, *args, **kwargs))
        return wrapped

    generic_diff = generic(np.diff, "np.diff")

    def diff(a, n=1, axis=-1, **kwargs):
        # numpy loops n times even once the array is empty (np.diff(a, n=10**9) runs minutes).
        if isinstance(n, _INT_TYPES):
            longest = data("np.diff", a)[0] + sum(data("np.diff", v)[0] for v in kwargs.values())
            if n > longest + 1:
                g.refuse("np.diff", f"n={int(n)} is larger than the array ({longest} elements)")
        return generic_diff(a, n, axis, **kwargs)

    def rounding(fn, what):
        inner = generic(fn, what)

        def wrapped(a, decimals=0, out=None):
            g.check_ndigits(what, decimals)
            return inner(a, decimals, out) if out is not None else inner(a, decimals)
        return wrapped

    def conversion(numpy_type):
        what = f"np.{numpy_type.__name__}"

        def convert(*args, **kwargs):
            args, kwargs = check_args(what, args, kwargs)
            return g.check_array(what, numpy_type(*args, **kwargs))
        return _Dtype(numpy_type, convert)

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
        "zeros": zeros_or_ones(np.zeros, "np.zeros"), "ones": zeros_or_ones(np.ones, "np.ones"),
        "full": full, "zeros_like": zeros_or_ones_like(np.zeros_like, "np.zeros_like"),
        "ones_like": zeros_or_ones_like(np.ones_like, "np.ones_like"), "full_like": full_like,
        "identity": identity, "eye": eye, "arange": arange, "linspace": linspace, "tile": tile,
        "repeat": repeat, "outer": outer, "diff": diff,
        "round": rounding(np.round, "np.round"),
        "dot": matmul_like(np.dot, "np.dot"), "matmul": matmul_like(np.matmul, "np.matmul"),
    }
    items = {}
    for name in NUMPY_NAMES:
        if name == "linalg":
            continue
        obj = getattr(np, name)
        if name in special:
            items[name] = special[name]
        elif isinstance(obj, type) and issubclass(obj, np.generic):
            items[name] = conversion(obj)
        elif callable(obj):
            items[name] = generic(obj, f"np.{name}")
        else:
            items[name] = obj  # constants
    linalg = {n: generic(getattr(np.linalg, n), f"np.linalg.{n}") for n in NUMPY_LINALG_NAMES}
    linalg["norm"] = fast_norm
    items["linalg"] = _Namespace(**linalg)
    return _Namespace(**items)


__all__ = ["numpy_proxy", "unwrap"]
