"""The sandboxed policy: a validated, instrumented program run by the fast executor."""

from __future__ import annotations

import re
from dataclasses import dataclass

from iteach_ros.codepolicy.fastexec import FastExecutor
from iteach_ros.codepolicy.runtime import CodePolicyError, TeacherStep
from iteach_ros.codepolicy.sandbox.errors import SandboxError, SandboxLimits, _LimitTripped
from iteach_ros.codepolicy.sandbox.guarded_ops import build_namespace
from iteach_ros.codepolicy.sandbox.guards import Guards
from iteach_ros.codepolicy.sandbox.instrument import compile_policy
from iteach_ros.core.state import ObjectState


@dataclass
class StepOutcome:
    """Result of :meth:`SandboxedPolicy.try_step`: a step, or the error that replaced it."""

    step: TeacherStep | None
    error: SandboxError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# "FastExecutor._move_gripper() got an unexpected keyword" -> "move_gripper() got ..."
_INTERNAL_NAME_RE = re.compile(r"\b\w*Executor\._(\w+)\(\)")
_MAX_MESSAGE_CHARS = 2000


def _program_lineno(exc: BaseException, filename: str) -> int | None:
    tb, lineno = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def _describe(exc: BaseException, guards: Guards) -> str:
    """``Type: message`` of a program's exception, bounded: formatting its arguments must not
    run long, recurse or allocate without bound (they are the program's values)."""
    try:
        if guards.text_size(exc.args) > _MAX_MESSAGE_CHARS:
            text = "(message too large to show)"
        else:
            text = str(exc)
    except Exception:  # noqa: BLE001 - e.g. RecursionError formatting deeply nested values
        text = "(message could not be shown)"
    text = _INTERNAL_NAME_RE.sub(r"\1()", f"{type(exc).__name__}: {text}")
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[:_MAX_MESSAGE_CHARS] + "..."


class PolicyBase:
    """What the sandbox's policies share: ``try_step`` over ``step``, ``close()`` and use as a
    context manager."""

    def step(self, objects: dict[str, ObjectState]) -> TeacherStep:  # pragma: no cover
        raise NotImplementedError

    def try_step(self, objects: dict[str, ObjectState]) -> StepOutcome:
        try:
            return StepOutcome(self.step(objects))
        except SandboxError as exc:
            return StepOutcome(None, exc)

    def close(self) -> None:
        """Release what the policy holds (nothing, in process)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SandboxedPolicy(PolicyBase):
    """Runs an untrusted CodePolicy: validated once, compiled once, guarded every step.

    ``step(objects)`` returns the :class:`TeacherStep` or raises :class:`SandboxError` (and
    nothing else; so does the constructor); ``try_step(objects)`` never raises. After an error
    the policy keeps its state (the failed step did not advance ``current_step``) and may be
    stepped again.
    """

    def __init__(self, source: str, object_names=None, limits: SandboxLimits | None = None,
                 filename: str = "<codepolicy>"):
        if limits is not None and not isinstance(limits, SandboxLimits):
            raise SandboxError("input", f"limits must be SandboxLimits, got "
                               f"{type(limits).__name__}")
        self.limits = limits or SandboxLimits()
        self.compiled = compile_policy(source, object_names, filename)
        self.source = source
        self.filename = filename
        self._guards = Guards(self.limits)
        try:
            self._namespace = build_namespace(self._guards)
            self.executor = FastExecutor(self.compiled.code, filename,
                                         extra_globals=self._namespace)
        except Exception as exc:  # noqa: BLE001 - never more than one exception type out
            raise SandboxError("validation", f"CodePolicy cannot be prepared: "
                               f"{type(exc).__name__}: {str(exc)[:200]}") from None

    @property
    def current_step(self) -> int:
        return self.executor.current_step

    @property
    def done(self) -> bool:
        return self.executor.done

    def reset(self) -> None:
        self.executor.reset()

    def step(self, objects: dict[str, ObjectState]) -> TeacherStep:
        try:
            return self._step(objects)
        except SandboxError:
            raise
        except Exception as exc:  # noqa: BLE001 - a fault nothing below classified
            raise SandboxError("runtime", "internal error: "
                               + _describe(exc, self._guards)) from None

    def _step(self, objects: dict[str, ObjectState]) -> TeacherStep:
        ex, guards = self.executor, self._guards
        try:
            ns = ex.begin(objects)
        except CodePolicyError as exc:
            raise SandboxError("api", str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - the caller's object states are unusable
            raise SandboxError("input", "object states: " + _describe(exc, guards)) from None
        guards.start()
        try:
            exec(self.compiled.code, ns)  # noqa: S102 - validated and instrumented above
            guards.finish()
        except _LimitTripped as exc:
            raise SandboxError(exc.kind, str(exc), _program_lineno(exc, self.filename)) from None
        except Exception as exc:  # noqa: BLE001 - any program fault becomes a report
            lineno = _program_lineno(exc, self.filename)
            tripped = guards.tripped  # a limit the program replaced by another exception
            if tripped is not None:
                raise SandboxError(tripped.kind, str(tripped), lineno) from None
            if isinstance(exc, CodePolicyError):
                raise SandboxError("api", str(exc), lineno) from None
            if isinstance(exc, RecursionError):
                raise SandboxError("limit", "recursion too deep", lineno) from None
            if isinstance(exc, MemoryError):
                raise SandboxError("memory", "out of memory", lineno) from None
            raise SandboxError("runtime", _describe(exc, guards), lineno) from None
        try:
            return ex.finish()
        except CodePolicyError as exc:
            raise SandboxError("api", str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - the caller's object states are unusable
            raise SandboxError("input", "object states: " + _describe(exc, guards)) from None



def load_policy(source: str, object_names=None, limits: SandboxLimits | None = None,
                filename: str = "<codepolicy>") -> SandboxedPolicy:
    """Shorthand for :class:`SandboxedPolicy` (raises SandboxError when the source is refused)."""
    return SandboxedPolicy(source, object_names, limits, filename)

