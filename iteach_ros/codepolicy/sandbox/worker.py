"""The sandbox worker: a process that runs one untrusted CodePolicy (``SandboxedPolicy``, its
in-process guards included) under kernel limits, and talks to the caller over two pipes.

Started by :mod:`iteach_ros.codepolicy.sandbox.process` (``main([READ_FD, WRITE_FD])``, the
package root first on ``sys.path``). It imports numpy and the
sandbox and warms numpy's lazy imports (so the first step pays no import), says ``BOOTED``,
then reads the program. Before compiling it, it caps its own address space (``RLIMIT_AS``),
core dumps (none) and file writes; before each step it re-arms ``RLIMIT_CPU`` to the CPU time
used so far plus the per-step allowance, so a single C call that never returns is killed by
the kernel (SIGXCPU) even if the caller is gone. It exits on end of input (the caller closed
the pipe or died).
"""

from __future__ import annotations

import gc
import math
import os
import resource
import sys
import time
import warnings

import numpy as np

from iteach_ros.codepolicy.sandbox import protocol as p
from iteach_ros.codepolicy.sandbox.errors import SandboxError, SandboxLimits
from iteach_ros.codepolicy.sandbox.policy import SandboxedPolicy
from iteach_ros.core.state import ObjectState

_WARM_UP = """
a = np.array([0.1, 0.2, 0.3])
x = [str(a), f'{a}', f'{np.float64(1.5)}', np.linalg.norm(a), np.round(a, 2), a.sum(), a.mean()]
try:
    np.linalg.inv(np.zeros((2, 2)))
except Exception:
    pass
try:
    np.ones(3) + np.ones(4)
except Exception:
    pass
try:
    np.sum(a, axis=5)
except Exception:
    pass
try:
    b = a < 'x'
except Exception:
    pass
move_gripper(a)
"""


class _Pipe:
    def __init__(self, rfd: int, wfd: int):
        self.rfd, self.wfd = rfd, wfd

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.wfd, view):]

    def recv(self) -> bytes | None:
        header = self._read(4)
        if header is None:
            return None
        return self._read(p.frame_length(header))

    def _read(self, n: int) -> bytes | None:
        chunks, left = [], n
        while left:
            chunk = os.read(self.rfd, left)
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def warm_up() -> None:
    """Run a program through the sandbox once, so numpy's lazy imports and caches are filled
    by trusted code before any untrusted program runs (and before the address-space cap)."""
    objects = {"gripper": ObjectState("gripper", np.zeros(3))}
    SandboxedPolicy(_WARM_UP, ["gripper"]).step(objects)


def _vm_size() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def apply_limits(address_space_bytes: int) -> None:
    """Kernel limits of this process: address space, no core dumps, no file writes beyond a
    small allowance (stderr goes to a file), no more open files."""
    used = _vm_size()
    if used is not None and address_space_bytes < used + (64 << 20):
        raise SandboxError("input", f"the worker's address-space cap "
                           f"({address_space_bytes >> 20} MiB) is below what the worker "
                           f"itself uses plus 64 MiB ({(used >> 20) + 64} MiB)")
    for limit, value in ((resource.RLIMIT_AS, address_space_bytes), (resource.RLIMIT_CORE, 0),
                         (resource.RLIMIT_FSIZE, 1 << 20)):
        _soft, hard = resource.getrlimit(limit)
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (cap, hard))


class _CpuLimit:
    """RLIMIT_CPU re-armed before each step: at least ``per_step_s`` more CPU seconds. (CPU time
    grows no faster than wall time, so the CPU clock, a system call, is read only when the
    wall clock says the allowance may have shrunk below one step's.)"""

    def __init__(self, per_step_s: int):
        self.per_step_s = max(1, int(per_step_s))
        self.hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        self.soft = 0
        self.wall_ok_until = 0.0

    def arm(self) -> None:
        if time.perf_counter() < self.wall_ok_until:
            return
        used = time.process_time()
        if used + self.per_step_s > self.soft:
            soft = math.ceil(used) + 2 * self.per_step_s
            if self.hard != resource.RLIM_INFINITY:
                soft = min(soft, self.hard)
            resource.setrlimit(resource.RLIMIT_CPU, (soft, self.hard))
            self.soft = soft
        self.wall_ok_until = time.perf_counter() + (self.soft - used - self.per_step_s)


def _error(exc: SandboxError) -> bytes:
    return p.encode_error(exc.kind, exc.message, exc.lineno, exc.issues)


def serve(pipe: _Pipe) -> int:
    pipe.send(p.frame(p.BOOTED))
    msg = pipe.recv()
    if msg is None or msg[:1] != p.INIT:
        return 0
    init = p.decode_json(msg[1:])
    try:
        apply_limits(int(init["address_space_bytes"]))
        cpu = _CpuLimit(init["cpu_time_s"])
        cpu.arm()  # validation and compilation too
        policy = SandboxedPolicy(init["source"], init["object_names"],
                                 SandboxLimits(**init["limits"]), init["filename"])
    except SandboxError as exc:
        pipe.send(p.frame(p.ERROR, _error(exc)[1:]))
        return 0
    except MemoryError:
        pipe.send(p.frame(p.ERROR, p.encode_error(
            "memory", "out of memory while compiling (address-space limit)", None)[1:]))
        return 0
    pipe.send(p.frame(p.READY))
    states = p.ObjectStates()
    gc.freeze()  # what exists now is never garbage: full collections stay short
    while True:
        msg = pipe.recv()
        if msg is None or msg[:1] == p.QUIT:
            return 0
        if msg[:1] == p.RESET:
            policy.reset()
            pipe.send(p.frame(p.READY))
            continue
        try:
            objects = states.decode(msg[1:])
            cpu.arm()
            step = policy.step(objects)
            reply = p.encode_step(step.action, step.done, step.current_step)
        except SandboxError as exc:
            reply = _error(exc)
        except MemoryError:
            reply = p.encode_error("memory", "out of memory (address-space limit)", None)
        pipe.send(p.frame(reply[:1], reply[1:]))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    pipe = _Pipe(int(argv[0]), int(argv[1]))
    warnings.simplefilter("ignore")  # numpy's RuntimeWarnings would fill stderr
    warm_up()
    try:
        return serve(pipe)
    except (BrokenPipeError, OSError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
