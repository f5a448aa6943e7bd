"""The sandbox's limits and its one error type."""

from __future__ import annotations

from dataclasses import dataclass

# SandboxError.kind values, the layer that stopped the program.
ERROR_KINDS = (
    "syntax",  # the source does not parse
    "validation",  # the static whitelist check refused it (or validation ran out of time)
    "input",  # the caller passed something unusable (object names, limits, object states)
    "api",  # the program misused the CodePolicy API (unknown object, bad vector)
    "runtime",  # the program raised an ordinary error (IndexError, numpy's ValueError, ...)
    "timeout",  # CPU time of the step, or the worker's wall-clock or budget limit
    "memory",  # a size cap, the step's memory growth, or the worker's address-space cap
    "limit",  # tick budget, recursion depth, or a refused operation (dtype, huge argument)
    "crash",  # the worker process died (a signal such as SIGSEGV) or broke the protocol
)


@dataclass(frozen=True)
class SandboxLimits:
    """Per-step limits of a sandboxed CodePolicy.

    time_limit_s: CPU time of the calling thread for one step (50 ms = one 20 Hz control period),
        measured from the start of the step.
    max_ticks: loop iterations + function calls per step.
    max_elements: largest sequence / string the program may create (elements), and the array
        cap in float64 elements (see ``array_bytes``).
    max_int_bits: largest integer (bits) the program may create.
    memory_limit_bytes: resident-memory growth allowed during one step.
    check_every: ticks between CPU-time / memory checks (a power of two).
    max_array_bytes: largest array (bytes, any dtype); default 8 * max_elements.
    """

    time_limit_s: float = 0.05
    max_ticks: int = 200_000
    max_elements: int = 10_000
    max_int_bits: int = 4096
    memory_limit_bytes: int = 256 * 1024 * 1024
    check_every: int = 64
    max_array_bytes: int | None = None

    def __post_init__(self):
        for name in ("time_limit_s", "max_ticks", "max_elements", "max_int_bits",
                     "memory_limit_bytes", "check_every"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"SandboxLimits.{name} must be a positive number, got {value!r}")
        if self.check_every & (self.check_every - 1):
            raise ValueError(f"SandboxLimits.check_every must be a power of two, "
                             f"got {self.check_every}")
        if self.max_array_bytes is not None and not (
                isinstance(self.max_array_bytes, int) and self.max_array_bytes > 0):
            raise ValueError(f"SandboxLimits.max_array_bytes must be a positive int or None, "
                             f"got {self.max_array_bytes!r}")

    @property
    def array_bytes(self) -> int:
        """The array cap in bytes."""
        return self.max_array_bytes or 8 * self.max_elements


@dataclass
class Issue:
    """One static-validation finding."""

    lineno: int
    message: str

    def __str__(self) -> str:
        return f"line {self.lineno}: {self.message}"


class SandboxError(Exception):
    """A CodePolicy was refused or failed; the caller should report, not crash.

    The only exception type that leaves the sandbox's entry points (construction, ``step``,
    ``try_step``'s outcome, the worker). kind: one of :data:`ERROR_KINDS`.
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
    """Raised inside the program when a limit is hit: a BaseException, which the program cannot
    name or catch. ``args`` are (kind, message); no Python-level ``__init__``, so raising one
    needs no extra frame even at the recursion limit."""

    @property
    def kind(self) -> str:
        return self.args[0]

    def __str__(self) -> str:
        return self.args[1]
