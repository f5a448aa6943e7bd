"""The guarded operations a program's namespace holds: what the instrumenter routes operators,
subscripts, f-string fields, unpackings and the size-dependent methods through, and the
restricted builtins. Each measures what the operation would create (or visit) *before* it runs
and trips a limit (``Guards.trip``) instead; on the usual small values (3-vectors, scalars) each
costs a function call and a few type checks."""

from __future__ import annotations

import builtins
import time

import numpy as np

from iteach_ros.codepolicy.sandbox import instrument as names
from iteach_ros.codepolicy.sandbox.guards import _CONTAINERS, Guards, matmul_size
from iteach_ros.codepolicy.sandbox.numpy_proxy import numpy_proxy, unwrap
from iteach_ros.codepolicy.sandbox.whitelist import SAFE_BUILTINS

_SEQ_TYPES = (str, list, tuple, bytes)
_INT_TYPES = (int, np.integer)
_NDARRAY = np.ndarray
_GENERIC = np.generic
_MAX_ZIP = 32  # zip(*[range(99999)] * 9999) builds 10**9 references in one call


def build_namespace(g: Guards) -> dict:
    """The guards, the restricted builtins and the sandbox's ``np`` for one policy."""
    max_el, max_bits, max_bytes = g.max_el, g.max_bits, g.max_bytes
    check_every = g.limits.check_every - 1
    clock, pulse = time.perf_counter, g.pulse

    def tick():
        g.ticks += 1
        if not (g.ticks & check_every) or g.tripped is not None:
            g.check()
        elif clock() > g.wall_next:
            g.check_time()
        return True

    def array_operands(what, a, b, ta, tb, matmul=False):
        """Refuse an array operation whose result would be above the byte cap."""
        sa = a.size if ta is _NDARRAY else (
            g.count_data(what, a) if ta is list or ta is tuple else 1)
        sb = b.size if tb is _NDARRAY else (
            g.count_data(what, b) if tb is list or tb is tuple else 1)
        itemsize = max(a.itemsize if ta is _NDARRAY else 8, b.itemsize if tb is _NDARRAY else 8)
        if sa * sb * itemsize <= max_bytes:
            return
        if matmul:
            n = matmul_size(np.shape(a), np.shape(b))
            if n * itemsize > max_bytes:
                g.too_big(what, n, n * itemsize)
        else:
            g.broadcast_bytes(what, (np.shape(a), np.shape(b)), itemsize)

    def arith(opname, fn):
        is_mul, is_pow = opname == "Mult", opname == "Pow"
        is_shift, is_mod, is_matmul = opname == "LShift", opname == "Mod", opname == "MatMult"
        what = f"'{opname}' of arrays"

        def guarded(a, b):
            ta, tb = type(a), type(b)
            # With an array (or a numpy scalar and a list), only two array-likes can grow
            # beyond the larger one's size; they are checked before numpy allocates.
            if ta is _NDARRAY or tb is _NDARRAY or (
                    (ta is list or ta is tuple) and isinstance(b, _GENERIC)) or (
                    (tb is list or tb is tuple) and isinstance(a, _GENERIC)):
                if ta is _NDARRAY and tb is _NDARRAY:
                    if a.size * b.size * 16 > max_bytes:
                        array_operands(what, a, b, ta, tb, is_matmul)
                elif ta is list or ta is tuple or tb is list or tb is tuple:
                    array_operands(what, a, b, ta, tb, is_matmul)
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
        what = f"comparison '{opname}'"
        is_in = opname in ("In", "NotIn")

        def guarded(a, b):
            ta, tb = type(a), type(b)
            if ta is _NDARRAY or tb is _NDARRAY:
                if ta is _NDARRAY and tb is _NDARRAY:
                    if a.size * b.size * 16 > max_bytes:
                        array_operands(what, a, b, ta, tb)
                elif ta is list or ta is tuple or tb is list or tb is tuple:
                    array_operands(what, a, b, ta, tb)
            elif ta in _CONTAINERS and (tb in _CONTAINERS or is_in):
                # Nested containers are compared (or hashed, for 'in' a set or dict) element
                # by element in one C call: bound the elements visited.
                g.check_nodes(what, a, b)
            return fn(a, b)

        return guarded

    def getitem(a, idx):
        t = type(idx)
        if t is int or t is slice:
            return a[idx]
        ta = type(a)
        if ta is not _NDARRAY:
            if ta is dict and t is tuple:
                g.check_nodes("dict lookup", idx)
            return a[idx]
        # Fancy indexing can multiply sizes; refuse conservatively before numpy allocates.
        parts = idx if t is tuple else (idx,)
        n = a.size
        for p in parts:
            if type(p) is _NDARRAY:
                n *= p.size
            elif type(p) is list:
                n *= g.count_data("array indexing", p)
        if n * a.itemsize > max_bytes:
            g.too_big("array indexing with index arrays", n, n * a.itemsize)
        return a[idx]

    def setitem(value, obj, key):
        t = type(obj)
        if t is list and type(key) is slice:
            value, n = g.length("slice assignment", value)
            size = len(obj) - len(range(*key.indices(len(obj)))) + n
            if size > g.max_seq:
                g.too_big("slice assignment", size)
        elif t is _NDARRAY:
            tv = type(value)
            if tv is list or tv is tuple:
                g.count_data("array assignment", value)
        elif t is dict and type(key) is tuple:
            g.check_nodes("dict key", key)
        obj[key] = value

    def star(x):
        return g.length("* unpacking", x)[0]

    def fmt(x):
        g.check_text("f-string field", x)
        return x

    # ---- methods whose cost depends on their arguments (GUARDED_METHODS) -------------------
    def m_extend(obj, *args, **kwargs):
        if type(obj) is list and len(args) == 1 and not kwargs:
            items, n = g.length("list.extend", args[0])
            if len(obj) + n > g.max_seq:
                g.too_big("list.extend", len(obj) + n)
            return obj.extend(items)
        return obj.extend(*args, **kwargs)

    def searching(name):
        def guarded(obj, *args, **kwargs):
            if args and type(obj) in (list, tuple) and type(args[0]) in _CONTAINERS:
                g.check_nodes(f".{name}()", obj, args[0])
            return getattr(obj, name)(*args, **kwargs)
        return guarded

    def m_sort(obj, *args, **kwargs):
        if type(obj) is list and kwargs.get("key") is None and any(
                type(x) in _CONTAINERS for x in obj):
            g.check_nodes(".sort()", obj)
        return obj.sort(*args, **kwargs)

    def m_astype(obj, *args, **kwargs):
        if isinstance(obj, _NDARRAY | _GENERIC):
            if args:
                args = (unwrap(args[0]), *args[1:])
            if "dtype" in kwargs:
                kwargs["dtype"] = unwrap(kwargs["dtype"])
            dt = g.check_dtype(".astype()", args[0] if args else kwargs.get("dtype"))
            if dt is not None and obj.size * dt.itemsize > max_bytes:
                g.too_big(".astype()", obj.size, obj.size * dt.itemsize)
        return obj.astype(*args, **kwargs)

    def reducing(name):
        def guarded(obj, *args, **kwargs):
            if isinstance(obj, _NDARRAY | _GENERIC):
                if len(args) > 1:
                    args = (args[0], unwrap(args[1]), *args[2:])
                if "dtype" in kwargs:
                    kwargs["dtype"] = unwrap(kwargs["dtype"])
                g.check_dtype(f".{name}()", args[1] if len(args) > 1 else kwargs.get("dtype"))
            return getattr(obj, name)(*args, **kwargs)
        return guarded

    def m_round(obj, *args, **kwargs):
        g.check_ndigits(".round()", args[0] if args else kwargs.get("decimals"))
        return obj.round(*args, **kwargs)

    # ---- builtins --------------------------------------------------------------------------
    def compared_items(what, items):
        pulse()
        if any(type(x) in _CONTAINERS for x in items):
            g.check_nodes(what, *items)

    def safe_range(*args):
        pulse()
        r = range(*args)
        if len(r) > g.max_seq:
            g.too_big("range()", len(r))
        return r

    def safe_sum(iterable, start=0):
        if not isinstance(start, int | float | np.number | _NDARRAY):
            g.trip("limit", "sum() start must be a number")
        pulse()
        return sum(iterable, start)

    def safe_str(*args, **kwargs):
        pulse()
        if len(args) == 1 and not kwargs:
            g.check_text("str()", args[0])
        return str(*args, **kwargs)

    def safe_round(number, ndigits=None):
        g.check_ndigits("round()", ndigits)
        return round(number, ndigits)

    def safe_sorted(iterable, /, *, key=None, reverse=False):
        items = list(iterable)
        if key is None:
            compared_items("sorted()", items)
        return sorted(items, key=key, reverse=reverse)

    def extremum(fn):
        what = f"{fn.__name__}()"

        def guarded(*args, **kwargs):
            items = list(args[0]) if len(args) == 1 else args
            if kwargs.get("key") is None:
                compared_items(what, items)
            return fn(items, **kwargs)
        return guarded

    def safe_zip(*iterables, **kwargs):
        if len(iterables) > _MAX_ZIP:
            g.refuse("zip()", f"at most {_MAX_ZIP} sequences")
        return zip(*iterables, **kwargs)

    def safe_map(function, *iterables):
        if len(iterables) > _MAX_ZIP:
            g.refuse("map()", f"at most {_MAX_ZIP} sequences")
        return map(function, *iterables)

    def safe_isinstance(obj, classinfo):
        if type(classinfo) is tuple:
            if any(type(c) is tuple for c in classinfo):
                g.refuse("isinstance()", "nested tuples of types are not allowed")
            classinfo = tuple(unwrap(c) for c in classinfo)
        return isinstance(obj, unwrap(classinfo))

    def consuming(fn):
        """list(), tuple(), set(), dict(), all(), any(): consume an iterable in one C call."""
        def guarded(*args, **kwargs):
            pulse()
            return fn(*args, **kwargs)
        guarded.__name__ = fn.__name__
        return guarded

    def no_print(*args, **kwargs):
        return None

    def numpy_import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
        # numpy's C code imports its own helpers lazily through the *calling* frame's
        # builtins; the program itself cannot name __import__.
        if level == 0 and (name == "numpy" or name.startswith("numpy.")):
            return builtins.__import__(name, globals, locals, fromlist, level)
        raise ImportError(f"import of {name!r} is not allowed in a CodePolicy")

    ns = {names.TICK: tick, names.CATCH: g.catch, names.GETITEM: getitem,
          names.SETITEM: setitem, names.STAR: star, names.FMT: fmt}
    for op_cls, fn in names.ARITH_OPS.items():
        ns[names.OP + op_cls.__name__] = arith(op_cls.__name__, fn)
    for op_cls, fn in names.CMP_OPS.items():
        ns[names.CMP + op_cls.__name__] = compare(op_cls.__name__, fn)
    methods = {"extend": m_extend, "count": searching("count"), "index": searching("index"),
               "sort": m_sort, "astype": m_astype, "sum": reducing("sum"),
               "mean": reducing("mean"), "round": m_round}
    ns.update({names.METHOD + name: fn for name, fn in methods.items()})
    safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS
            if name not in ("True", "False", "None")}
    safe.update(range=safe_range, sum=safe_sum, print=no_print, str=safe_str, round=safe_round,
                sorted=safe_sorted, min=extremum(min), max=extremum(max), zip=safe_zip,
                map=safe_map, isinstance=safe_isinstance, __import__=numpy_import,
                **{fn.__name__: consuming(fn) for fn in (list, tuple, set, dict, all, any)})
    ns["__builtins__"] = safe
    ns["np"] = numpy_proxy(g)
    return ns


__all__ = ["build_namespace"]
