"""A sandboxed CodePolicy in a worker process with a hard memory cap (ROS-free).

:class:`iteach_ros.codepolicy.sandbox.SandboxedPolicy` bounds memory by construction and by an
RSS check; this wrapper adds a kernel-enforced limit for deployments that want one: the program
runs in a persistent worker process whose address space is capped with ``RLIMIT_AS``, and the
parent waits for each step at most ``wall_timeout_s``. A worker that dies (out of memory,
killed) or overruns is replaced; the failed step is reported as a :class:`SandboxError` and the
next step runs in a fresh worker that resumes at the same ``current_step`` (initial positions
are re-read, as at a step change). Cost: one pipe round trip per step (measured 375 us wall on
the shared 2-core machine under load, vs ~7-12 us CPU in process), so the
in-process sandbox stays the default.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import asdict

from iteach_ros.codepolicy.runtime import ObjectState, TeacherStep
from iteach_ros.codepolicy.sandbox import SandboxedPolicy, SandboxError, SandboxLimits


def _worker(conn, source, object_names, limits_dict, filename, address_space_bytes):
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = address_space_bytes if hard == resource.RLIM_INFINITY else min(
            address_space_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - non-Linux
        pass
    try:
        policy = SandboxedPolicy(source, object_names, SandboxLimits(**limits_dict), filename)
    except SandboxError as exc:
        conn.send(("err", exc.kind, exc.message, exc.lineno))
        return
    conn.send(("ready",))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        cmd = msg[0]
        if cmd == "step":
            try:
                step = policy.step(msg[1])
                conn.send(("ok", step.action, step.done, step.current_step))
            except SandboxError as exc:
                conn.send(("err", exc.kind, exc.message, exc.lineno))
            except MemoryError:
                conn.send(("err", "memory", "out of memory (address-space limit)", None))
        elif cmd == "reset":
            policy.reset()
            policy.executor.current_step = msg[1]
            conn.send(("ok",))
        elif cmd == "stop":
            return


class IsolatedPolicy:
    """Same interface as :class:`SandboxedPolicy` (``step``, ``try_step``, ``reset``,
    ``current_step``), running in a worker process with ``RLIMIT_AS``."""

    def __init__(self, source: str, object_names=None, limits: SandboxLimits | None = None,
                 filename: str = "<codepolicy>", address_space_bytes: int = 2 << 30,
                 wall_timeout_s: float = 2.0, start_method: str = "forkserver"):
        self.source = source
        self.object_names = list(object_names) if object_names is not None else None
        self.limits = limits or SandboxLimits()
        self.filename = filename
        self.address_space_bytes = int(address_space_bytes)
        self.wall_timeout_s = float(wall_timeout_s)
        methods = mp.get_all_start_methods()
        self._ctx = mp.get_context(start_method if start_method in methods else "spawn")
        self.current_step = 1
        self.done = False
        self.restarts = 0
        self._proc = None
        self._conn = None
        self._start()

    def _start(self):
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker, daemon=True, args=(
            child, self.source, self.object_names, asdict(self.limits), self.filename,
            self.address_space_bytes))
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        if not parent.poll(max(30.0, self.wall_timeout_s)):
            self.close()
            raise SandboxError("limit", "sandbox worker did not start")
        msg = parent.recv()
        if msg[0] == "err":
            self.close()
            raise SandboxError(msg[1], msg[2], msg[3])
        if self.current_step != 1:
            parent.send(("reset", self.current_step))
            parent.recv()

    def _replace_worker(self):
        self.close()
        self.restarts += 1
        self._start()

    def close(self):
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    def reset(self) -> None:
        self.current_step, self.done = 1, False
        if self._proc is None or not self._proc.is_alive():
            self._replace_worker()
            return
        self._conn.send(("reset", 1))
        self._conn.recv()

    def step(self, objects: dict[str, ObjectState]) -> TeacherStep:
        if self._proc is None or not self._proc.is_alive():
            self._replace_worker()
        try:
            self._conn.send(("step", objects))
            if not self._conn.poll(self.wall_timeout_s):
                self._replace_worker()
                raise SandboxError("timeout", f"step took longer than {self.wall_timeout_s} s "
                                   "(wall clock); worker replaced")
            msg = self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            code = self._proc.exitcode if self._proc is not None else None
            self._replace_worker()
            raise SandboxError("memory", f"sandbox worker died (exit code {code}; address-space "
                               f"limit {self.address_space_bytes >> 20} MiB); worker replaced"
                               ) from None
        if msg[0] == "err":
            raise SandboxError(msg[1], msg[2], msg[3])
        _, action, done, current_step = msg
        self.current_step, self.done = current_step, done
        return TeacherStep(action=action, done=done, current_step=current_step)

    def try_step(self, objects):
        from iteach_ros.codepolicy.sandbox import StepOutcome

        try:
            return StepOutcome(self.step(objects))
        except SandboxError as exc:
            return StepOutcome(None, exc)


__all__ = ["IsolatedPolicy"]
