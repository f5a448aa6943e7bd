"""The runtime half of the sandbox: tick counter, clocks, memory check and size measurement.

One :class:`Guards` per policy holds the per-step state; the functions a program's namespace
holds (``guarded_ops.py``, ``numpy_proxy.py``) call it. Everything here is a first line of
defence in the program's own process:

- time: the step's CPU time (``time.thread_time``, so a busy GIL or a preempted thread does not
  count; its first 1/16 on the wall clock, see :meth:`Guards.check_time`) from the start of the
  step, checked at every tick, in the guards of operations that may take a while (so
  straight-line code is measured too) and at the end of the step;
- ticks: loop iterations and function calls per step;
- memory: resident-memory growth, sampled at the same ticks; sizes (elements, array bytes for
  every dtype, formatted text, nodes of nested containers) measured *before* an operation runs;
- faults the program must not survive (a tripped limit, ``RecursionError``, ``MemoryError``, an
  API error) are re-raised as :class:`_LimitTripped` by the first statement of every ``except``
  handler (:meth:`Guards.catch`), and a tripped limit is sticky for the rest of the step.

A single C-level call is not interrupted, and not every one is measured beforehand (hashing a
tuple nested 100,000 deep, for one, recurses in C without a depth check and crashes the
process): untrusted programs therefore run in a worker process by default
(:mod:`iteach_ros.codepolicy.sandbox.remote`), whose kernel limits and wall clock contain what
gets past these guards.
"""

from __future__ import annotations

import os
import time

import numpy as np

from iteach_ros.codepolicy.runtime import CodePolicyError
from iteach_ros.codepolicy.sandbox.errors import SandboxLimits, _LimitTripped

_NDARRAY = np.ndarray
_GENERIC = np.generic
_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
_SEQUENCES = frozenset({list, tuple, set, frozenset})
NUMERIC_KINDS = "biufc"  # dtype kinds a program may create: bool, ints, floats, complex
_INT64_MIN, _UINT64_END = -(2**63), 2**64
_INT_TYPES = (int, np.integer)
CPU_MARK = 1 / 16  # share of the time limit measured on the wall clock, before the CPU clock
MAX_NDIGITS = 1000  # round(1, -10**8) computes 10**(10**8)


def matmul_size(sa: tuple, sb: tuple) -> int:
    """An upper bound of the elements of ``a @ b`` or ``np.dot(a, b)`` (dot's shape rule,
    which is never smaller than matmul's broadcast of the stack dimensions)."""
    out = (sa[:-1] or (1,)) + ((sb[:-2] + sb[-1:]) if len(sb) >= 2 else ())
    n = 1
    for s in out:
        n *= int(s)
    return n


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


class Guards:
    """Per-step limits and the size measurements the guarded operations share."""

    def __init__(self, limits: SandboxLimits):
        self.limits = limits
        self.max_el = limits.max_elements
        # Lists grown by extend / slice assignment / unpacking, ranges, nodes walked, text.
        self.max_seq = 10 * limits.max_elements
        self.max_bytes = limits.array_bytes
        self.max_bits = limits.max_int_bits
        self.ticks = 0
        self.tripped: _LimitTripped | None = None
        self.cpu_mark: float | None = None
        self.wall_next = float("inf")  # no clock outside a step
        self.rss0: int | None = None

    # ---- per-step bookkeeping ----------------------------------------------------------------
    def start(self) -> None:
        self.ticks = 0
        self.tripped = None
        self.rss0 = None
        self.cpu_mark = None
        # Reading the thread CPU clock is a system call (~1 us, a tenth of a step); the wall
        # clock is not. The CPU clock starts once the step has run CPU_MARK of its limit.
        self.wall_next = time.perf_counter() + self.limits.time_limit_s * CPU_MARK

    def check(self) -> None:
        """Every ``check_every`` ticks: tick budget, CPU time, memory growth."""
        if self.tripped is not None:
            raise self.tripped.with_traceback(None)
        lim = self.limits
        if self.ticks > lim.max_ticks:
            self.trip("limit", f"more than {lim.max_ticks} loop iterations / calls in one step")
        self.check_time()
        rss = _RSS()
        if rss is None:
            return
        if self.rss0 is None:
            self.rss0 = rss
        elif rss - self.rss0 > lim.memory_limit_bytes:
            self.trip("memory", f"step grew memory by {(rss - self.rss0) >> 20} MiB "
                      f"(limit {lim.memory_limit_bytes >> 20} MiB)")

    def pulse(self) -> None:
        """A cheap time check for the guards of operations that may take a while (straight-line
        code has no ticks)."""
        if time.perf_counter() > self.wall_next:
            self.check_time()

    def check_time(self) -> None:
        """The CPU-time limit. Until the step has run ``CPU_MARK`` of the limit (wall clock)
        nothing is read; then the thread CPU clock is marked and the step may use the rest of
        the limit in CPU time (thread CPU time <= wall time, so the wall clock says when it
        could next be over)."""
        now = time.perf_counter()
        if now <= self.wall_next:
            return
        limit = self.limits.time_limit_s
        budget = limit * (1.0 - CPU_MARK)
        if self.cpu_mark is None:
            self.cpu_mark = time.thread_time()
            self.wall_next = now + budget
            return
        used = time.thread_time() - self.cpu_mark
        if used > budget:
            self.trip("timeout", f"step exceeded its time limit of {limit * 1e3:.0f} ms "
                      "(infinite loop?)")
        self.wall_next = now + (budget - used)

    def finish(self) -> None:
        """End of the step: a limit the program swallowed (``finally: return``) still counts,
        and so does the time of a program with few or no ticks."""
        if self.tripped is not None:
            raise self.tripped.with_traceback(None)
        self.check_time()

    def trip(self, kind: str, message: str):
        self.tripped = _LimitTripped(kind, message)
        raise self.tripped

    def catch(self, exc: BaseException) -> None:
        """First statement of every ``except`` handler in the program: what the program may
        not survive is re-raised past its handlers."""
        if self.tripped is not None:
            raise self.tripped.with_traceback(None)
        t = type(exc)
        if t is RecursionError:
            self.trip("limit", "recursion too deep")
        if t is MemoryError:
            self.trip("memory", "out of memory")
        if isinstance(exc, CodePolicyError):
            self.trip("api", str(exc))

    # ---- size measurement --------------------------------------------------------------------
    def too_big(self, what: str, n: int, nbytes: int | None = None):
        if nbytes is None:
            self.trip("memory", f"{what} would create {n} elements (limit {self.max_el})")
        self.trip("memory", f"{what} would create {n} elements, {nbytes} bytes "
                  f"(limit {self.max_bytes} bytes)")

    def refuse(self, what: str, why: str):
        self.trip("limit", f"{what}: {why}")

    def check_ndigits(self, what: str, ndigits) -> None:
        if isinstance(ndigits, _INT_TYPES) and abs(int(ndigits)) > MAX_NDIGITS:
            self.refuse(what, f"at most {MAX_NDIGITS} digits (got {int(ndigits)})")

    def check_dtype(self, what: str, dtype) -> np.dtype | None:
        """The dtype ``dtype`` names, refused unless numbers or booleans (no strings, objects,
        subarrays or records); None when it names no dtype (numpy then raises its own error)."""
        if dtype is None:
            return None
        try:
            dt = np.dtype(dtype)
        except Exception:  # noqa: BLE001 - not a dtype: numpy reports it when called
            return None
        if dt.kind not in NUMERIC_KINDS or dt.shape or dt.fields is not None:
            self.refuse(what, f"dtype {dt.str!r} is not allowed (numbers and booleans only)")
        return dt

    def check_array(self, what: str, r):
        """A result: numeric dtype, within the byte cap (tuples of arrays: each)."""
        t = type(r)
        if t is _NDARRAY:
            if r.dtype.kind not in NUMERIC_KINDS:
                self.refuse(what, f"would create an array of dtype {r.dtype.str!r} (numbers "
                            "and booleans only)")
            if r.nbytes > self.max_bytes:
                self.too_big(what, r.size, r.nbytes)
        elif t is tuple or t is list:
            for item in r:
                if type(item) is _NDARRAY:
                    self.check_array(what, item)
        return r

    def count_data(self, what: str, x) -> int:
        """Elements numpy makes of ``x`` (numbers, arrays and nested lists/tuples of them),
        stopping above ``max_seq``; any other leaf (a string, None, an object) is refused, as
        are ints numpy would keep as Python objects."""
        t = type(x)
        if t is _NDARRAY:
            return x.size
        budget = self.max_seq
        stack, n, visits = [x], 0, 0
        while stack:
            item = stack.pop()
            t = type(item)
            visits += 1
            if t is list or t is tuple:
                if len(item) + visits > budget:
                    return budget + 1
                stack.extend(item)
                continue
            if t is float or t is bool:
                n += 1
            elif t is _NDARRAY:
                n += item.size
            elif t is int:
                if not _INT64_MIN <= item < _UINT64_END:
                    self.refuse(what, "integers beyond 64 bits cannot go into a numpy array")
                n += 1
            elif t is complex or (isinstance(item, _GENERIC) and item.dtype.kind in "biufc"):
                n += 1
            elif t is range:
                if not (_INT64_MIN <= item.start < _UINT64_END
                        and _INT64_MIN <= item.stop < _UINT64_END):
                    self.refuse(what, "integers beyond 64 bits cannot go into a numpy array")
                n += len(item)
            else:
                self.refuse(what, f"numpy takes numbers, booleans and arrays of them here, "
                            f"not {t.__name__}")
            if n > budget:
                return n
        return n

    def nodes(self, x) -> int:
        """Nodes of nested containers counted with multiplicity (what ``==``, sorting, hashing
        and formatting visit), stopping above ``max_seq``."""
        if type(x) not in _CONTAINERS:
            return 1
        budget = self.max_seq
        stack, n = [x], 0
        while stack:
            item = stack.pop()
            n += 1
            t = type(item)
            if t in _SEQUENCES:
                if len(item) + len(stack) + n > budget:
                    return budget + 1
                stack.extend(item)
            elif t is dict:
                if 2 * len(item) + len(stack) + n > budget:
                    return budget + 1
                stack.extend(item.keys())
                stack.extend(item.values())
        return n

    def check_nodes(self, what: str, *values) -> None:
        total = 0
        for v in values:
            if type(v) in _CONTAINERS:
                total += self.nodes(v)
        if total > self.max_seq:
            self.refuse(what, f"nested containers of more than {self.max_seq} elements "
                        "(counting shared parts each time they appear)")

    def text_size(self, x) -> int:
        """An estimate of ``len(str(x))`` from the values inside it, stopping above
        ``max_seq`` characters."""
        budget = self.max_seq
        stack, chars, visits = [x], 0, 0
        while stack:
            item = stack.pop()
            visits += 1
            t = type(item)
            if t is str:
                chars += len(item) + 2
            elif t in _SEQUENCES:
                chars += 2 + 2 * len(item)
                if len(item) + visits > budget:
                    return budget + 1
                stack.extend(item)
            elif t is dict:
                chars += 2 + 4 * len(item)
                if 2 * len(item) + visits > budget:
                    return budget + 1
                stack.extend(item.keys())
                stack.extend(item.values())
            elif t is int:
                chars += item.bit_length() // 3 + 2
            elif t is _NDARRAY:  # numpy summarises arrays above 1000 elements
                chars += 24 * min(item.size, 1000) + 64
            else:
                chars += 96
            if chars > budget or visits > budget:
                return max(chars, budget + 1)
        return chars

    def check_text(self, what: str, x) -> None:
        t = type(x)
        if t is str:
            if len(x) > self.max_seq:
                self.too_big(what, len(x))
        elif t in _CONTAINERS and self.text_size(x) > self.max_seq:
            self.trip("memory", f"{what} would create more than {self.max_seq} characters")

    def broadcast_bytes(self, what: str, shapes, itemsize: int) -> None:
        """Refuse an operation whose broadcast result would be above the byte cap."""
        try:
            shape = np.broadcast_shapes(*shapes)
        except ValueError:
            return  # not broadcastable: numpy raises its own error
        n = 1
        for s in shape:
            n *= int(s)
        if n * itemsize > self.max_bytes:
            self.too_big(what, n, n * itemsize)

    def check_broadcast(self, what: str, arrays) -> None:
        n, itemsize = 1, 8
        for a in arrays:
            n *= a.size
            itemsize = max(itemsize, a.itemsize)
        if n * itemsize > self.max_bytes:
            self.broadcast_bytes(what, [a.shape for a in arrays], itemsize)

    def length(self, what: str, x):
        """``x`` and its length, as a list if it has none (a map or zip object); refused above
        ``max_seq``."""
        try:
            n = len(x)
        except TypeError:
            x = list(x)
            n = len(x)
        if n > self.max_seq:
            self.too_big(what, n)
        return x, n


__all__ = ["NUMERIC_KINDS", "Guards", "matmul_size"]
