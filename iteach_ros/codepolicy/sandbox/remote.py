"""Untrusted CodePolicies in a worker process: the default for generated code.

:class:`WorkerPolicy` has the interface of :class:`SandboxedPolicy` (``reset()``,
``step(objects)``, ``try_step(objects)``, ``current_step``, ``done``, ``source``) and runs the
program in a worker process (``worker.py``): the in-process guards run there as a first line,
and what gets past them (a C-level crash, a single C call that never returns, an allocation
beyond the guards) ends in the worker, within its kernel limits (:class:`WorkerLimits`:
address space, CPU time per step) and the caller's wall clock (per step, per compilation, and
optionally a budget for the policy's whole life). The caller gets a :class:`SandboxError` and
nothing else, never a crash or a hang.

A step that fails inside the worker (a guard tripped, the program raised) leaves the policy
usable, as in process. A worker that dies or overruns is killed and the *episode* fails: every
later ``step`` raises the same error at once, without IPC, until ``reset()``, which starts the
next episode in a fresh worker (started in the background as soon as the old one died, so it
is usually ready). A fresh worker is also kept booted in the background for the next policy.

Entry points: :func:`untrusted_policy` for a teacher, :func:`validation_policy` for the
many-episode validation rollouts during generation (a wall-clock budget over all of them).
Both run the program in a worker unless asked for ``sandbox="in_process"``
(:class:`SandboxedPolicy`, the guards alone).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from iteach_ros.codepolicy.runtime import TeacherStep
from iteach_ros.codepolicy.sandbox import protocol as p
from iteach_ros.codepolicy.sandbox.errors import ERROR_KINDS, Issue, SandboxError, SandboxLimits
from iteach_ros.codepolicy.sandbox.policy import PolicyBase, SandboxedPolicy
from iteach_ros.codepolicy.sandbox.process import Lost, Worker, take_worker
from iteach_ros.codepolicy.sandbox.validate import _object_names
from iteach_ros.core import SANDBOXES
from iteach_ros.core.state import ObjectState

DEFAULT_SANDBOX = SANDBOXES[0]  # "worker"

@dataclass(frozen=True)
class WorkerLimits:
    """Limits of the worker process (the in-process :class:`SandboxLimits` apply inside it).

    address_space_bytes: RLIMIT_AS of the worker (Python and numpy take ~150 MiB of it).
    cpu_time_s: RLIMIT_CPU allowance per step, whole seconds: the kernel kills (SIGXCPU) a
        worker after between cpu_time_s and 2 * cpu_time_s + 1 CPU seconds in one step, even
        one stuck in a single C call after the caller is gone.
    step_wall_s: wall-clock limit of one step, IPC included (the in-process CPU limit of 50 ms
        stops what runs in Python; this stops what does not, with room for a busy machine).
    compile_wall_s: wall-clock limit of validating and compiling the program in the worker.
    start_wall_s: wall-clock limit of starting a worker interpreter (trusted code: imports).
    budget_s: wall-clock budget of the policy's whole life (steps and restarts), None for none;
        once spent, every step fails at once ('timeout').
    """

    address_space_bytes: int = 512 << 20
    cpu_time_s: int = 2
    step_wall_s: float = 1.0
    compile_wall_s: float = 5.0
    start_wall_s: float = 30.0
    budget_s: float | None = None

    def __post_init__(self):
        for name in ("address_space_bytes", "cpu_time_s", "step_wall_s", "compile_wall_s",
                     "start_wall_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"WorkerLimits.{name} must be a positive number, got {value!r}")
        if self.budget_s is not None and not self.budget_s > 0:
            raise ValueError(f"WorkerLimits.budget_s must be positive or None, "
                             f"got {self.budget_s!r}")


class WorkerPolicy(PolicyBase):
    """A CodePolicy run in a sandbox worker process (see the module docstring).

    Raises :class:`SandboxError` and nothing else: from the constructor (the program is
    refused, 'syntax' / 'validation' with ``issues``, validated in the worker; or no worker
    could start) and from ``step`` (the step failed; after a lost worker, every step of the
    episode fails until ``reset()``). ``reset()`` and ``close()`` never raise. Not thread-safe
    (one caller at a time, like SandboxedPolicy).
    """

    def __init__(self, source: str, object_names=None, limits: SandboxLimits | None = None,
                 filename: str = "<codepolicy>", worker_limits: WorkerLimits | None = None):
        if limits is not None and not isinstance(limits, SandboxLimits):
            raise SandboxError("input", f"limits must be SandboxLimits, got "
                               f"{type(limits).__name__}")
        if worker_limits is not None and not isinstance(worker_limits, WorkerLimits):
            raise SandboxError("input", f"worker_limits must be WorkerLimits, got "
                               f"{type(worker_limits).__name__}")
        if not isinstance(source, str):
            raise SandboxError("input", f"source must be a string, got {type(source).__name__}")
        if not isinstance(filename, str):
            raise SandboxError("input", f"filename must be a string, got "
                               f"{type(filename).__name__}")
        self.source = source
        self.filename = filename
        self.object_names = _object_names(object_names)
        self.limits = limits or SandboxLimits()
        self.worker_limits = worker_limits or WorkerLimits()
        self.current_step, self.done = 1, False
        self.restarts = 0  # workers replaced after a failure
        self.failure: SandboxError | None = None  # why the current episode failed (sticky)
        self.spent_s = 0.0  # wall time charged to the budget
        self._layout_sent = None
        self._closed = False
        self._worker: Worker | None = None
        t0 = time.perf_counter()
        try:
            self._worker = self._start()
            self._wait_ready(self._worker)
        except Lost as lost:
            self.close()
            raise SandboxError(lost.kind, lost.message) from None
        except SandboxError:
            self.close()
            raise
        finally:
            self.spent_s += time.perf_counter() - t0

    # ---- the worker's life -------------------------------------------------------------------
    def _init_frame(self) -> bytes:
        return p.frame(p.INIT, p.dump_json({
            "source": self.source, "object_names": self.object_names,
            "limits": asdict(self.limits), "filename": self.filename,
            "address_space_bytes": self.worker_limits.address_space_bytes,
            "cpu_time_s": self.worker_limits.cpu_time_s}))

    def _start(self) -> Worker:
        """A worker (booting or booted) that has been sent the program."""
        worker = take_worker()
        worker.send(self._init_frame())
        return worker

    def _wait_ready(self, worker: Worker) -> None:
        lim = self.worker_limits
        worker.wait_booted(time.perf_counter() + lim.start_wall_s)
        if worker.ready:
            return
        frame = worker.recv(time.perf_counter() + lim.compile_wall_s,
                            f"validating and compiling the program took longer than "
                            f"{lim.compile_wall_s:g} s (wall clock)")
        if frame[:1] == p.ERROR:
            err = self._error(frame[1:])
            worker.kill()
            raise err
        if frame[:1] != p.READY:
            raise Lost("crash", "the worker broke the protocol (no READY)")
        worker.ready = True
        self._layout_sent = None

    def _error(self, payload: bytes) -> SandboxError:
        try:
            err = p.decode_error(payload)
        except p.ProtocolError as exc:
            return SandboxError("crash", f"the worker broke the protocol ({exc})")
        kind = err["kind"] if err["kind"] in ERROR_KINDS else "crash"
        return SandboxError(kind, err["message"], err["lineno"],
                            [Issue(n, m) for n, m in err["issues"]])

    def _fail(self, lost: Lost) -> SandboxError:
        """The worker is lost: kill it, fail the episode, start its replacement."""
        if self._worker is not None:
            self._worker.kill()
            self._worker = None
        self.restarts += 1
        self.failure = SandboxError(lost.kind, f"{lost.message}; the episode failed (the next "
                                    "one runs in a fresh worker)")
        if self._budget_left() > 0:
            try:
                self._worker = self._start()
            except Lost:
                pass  # reset() tries again
        return self.failure

    def _budget_left(self) -> float:
        budget = self.worker_limits.budget_s
        return float("inf") if budget is None else budget - self.spent_s

    def _budget_error(self) -> SandboxError:
        return SandboxError("timeout", f"the program used up its wall-clock budget of "
                            f"{self.worker_limits.budget_s:g} s")

    # ---- the policy interface ----------------------------------------------------------------
    def reset(self) -> None:
        """Start the next episode (in a fresh worker if the last one failed). Never raises:
        a worker that cannot be made ready fails the episode, which ``step`` then reports."""
        if self._closed:
            return
        self.current_step, self.done = 1, False
        if self._budget_left() <= 0:
            self.failure = self._budget_error()
            return
        t0 = time.perf_counter()
        try:
            if self.failure is not None or self._worker is None or not self._worker.alive():
                self.failure = None
                if self._worker is None or self._worker.dead:
                    self._worker = self._start()
                self._wait_ready(self._worker)
            else:
                self._worker.send(p.frame(p.RESET))
                frame = self._worker.recv(time.perf_counter() + self.worker_limits.step_wall_s,
                                          "reset took too long")
                if frame[:1] != p.READY:
                    raise Lost("crash", "the worker broke the protocol (no READY)")
        except Lost as lost:
            self._fail(lost)
        except SandboxError as exc:  # the replacement refused the program (cannot happen
            self.failure = exc  # for a program that compiled once, short of resources)
        finally:
            self.spent_s += time.perf_counter() - t0

    def step(self, objects: dict[str, ObjectState]) -> TeacherStep:
        if self._closed:
            raise SandboxError("input", "the policy is closed")
        if self.failure is not None:
            raise SandboxError(self.failure.kind, self.failure.message)
        left = self._budget_left()
        if left <= 0:
            self.failure = self._budget_error()
            raise self._budget_error()
        try:
            payload, layout = p.encode_objects(objects, self._layout_sent)
        except (TypeError, ValueError, AttributeError) as exc:
            raise SandboxError("input", f"object states: {type(exc).__name__}: "
                               f"{str(exc)[:300]}") from None
        wall = self.worker_limits.step_wall_s
        t0 = time.perf_counter()
        try:
            if self._worker is None:
                raise Lost("crash", "no worker")
            self._worker.send(p.frame(p.STEP, payload))
            self._layout_sent = layout
            what = (f"step took longer than {wall:g} s (wall clock)" if wall <= left else
                    f"the program used up its wall-clock budget of "
                    f"{self.worker_limits.budget_s:g} s")
            frame = self._worker.recv(t0 + min(wall, left), what)
            if frame[:1] == p.ERROR:
                raise self._error(frame[1:])
            if frame[:1] != p.STEP_OK:
                raise Lost("crash", "the worker broke the protocol (no step reply)")
            try:
                action, done, current_step = p.decode_step(frame[1:])
            except p.ProtocolError as exc:
                raise Lost("crash", f"the worker broke the protocol ({exc})") from None
        except Lost as lost:
            raise self._fail(lost) from None
        finally:
            self.spent_s += time.perf_counter() - t0
        self.current_step, self.done = current_step, done
        return TeacherStep(action, done, current_step)

    def close(self) -> None:
        """Stop the worker (idempotent)."""
        self._closed = True
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110
            pass


def _check_sandbox(sandbox) -> None:
    if sandbox not in SANDBOXES:
        raise SandboxError("input", f"sandbox must be one of {list(SANDBOXES)}, got {sandbox!r}")


def untrusted_policy(source: str, object_names=None, *, filename: str = "<codepolicy>",
                     limits: SandboxLimits | None = None,
                     worker_limits: WorkerLimits | None = None,
                     sandbox: str = DEFAULT_SANDBOX) -> WorkerPolicy | SandboxedPolicy:
    """An untrusted (generated or user-supplied) CodePolicy as a teacher: ``reset()``,
    ``step(objects) -> TeacherStep``, ``try_step``, ``source``, ``close()``.

    sandbox: ``worker`` (the default: a :class:`WorkerPolicy`, the program in a sandbox worker
        process) or ``in_process`` (a :class:`SandboxedPolicy`: the in-process guards alone,
        faster, no second line against what gets past them; ``worker_limits`` do not apply).
    Raises SandboxError ('syntax' / 'validation' with ``issues``) when the program is refused,
    ('input') for a bad argument.
    """
    _check_sandbox(sandbox)
    if sandbox == "in_process":
        return SandboxedPolicy(source, object_names, limits, filename)
    return WorkerPolicy(source, object_names, limits, filename, worker_limits)


def validation_policy(source: str, object_names=None, *, budget_s: float = 60.0,
                      filename: str = "<codepolicy>", limits: SandboxLimits | None = None,
                      worker_limits: WorkerLimits | None = None,
                      sandbox: str = DEFAULT_SANDBOX) -> WorkerPolicy | SandboxedPolicy:
    """A CodePolicy for validation rollouts (many episodes of one program) whose whole life,
    every step and restart of every episode, is bounded by ``budget_s`` of wall clock: once
    spent, every step fails at once with SandboxError('timeout'), so the remaining episodes end
    immediately and one program cannot stall generation. Close it (or use ``with``) when done.
    ``sandbox='in_process'``: a SandboxedPolicy instead (no worker, no budget; each step still
    under the in-process limits).
    """
    _check_sandbox(sandbox)
    if sandbox == "in_process":
        return SandboxedPolicy(source, object_names, limits, filename)
    base = worker_limits or WorkerLimits()
    return WorkerPolicy(source, object_names, limits, filename, WorkerLimits(
        **{**asdict(base), "budget_s": budget_s}))


__all__ = ["DEFAULT_SANDBOX", "SANDBOXES", "WorkerLimits", "WorkerPolicy", "untrusted_policy",
           "validation_policy"]
