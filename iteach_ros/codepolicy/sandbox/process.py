"""A sandbox worker process as the caller sees it: started, sent frames, read with a deadline,
killed; and the booted spare kept for the next policy."""

from __future__ import annotations

import atexit
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

from iteach_ros.codepolicy.sandbox import protocol as p

# The folder that holds the iteach_ros package, for the worker's sys.path.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# The caller's isolation flags, and -P (3.11+): the working directory must not decide which
# iteach_ros the worker imports; the package root goes first on its sys.path instead.
_FLAGS = (*(("-s",) if sys.flags.no_user_site else ()),
          *(("-E",) if sys.flags.ignore_environment else ()),
          *(("-P",) if sys.version_info >= (3, 11) else ()))
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from iteach_ros.codepolicy.sandbox.worker import main; sys.exit(main(sys.argv[2:]))")
_F_SETPIPE_SZ = 1031  # fcntl on Linux: a pipe big enough for the INIT frame of any program


class Lost(Exception):  # noqa: N818 - the worker cannot answer
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


def _describe_exit(returncode: int | None, stderr_tail: str) -> tuple[str, str]:
    """(kind, words) for a worker that died on its own."""
    if returncode is not None and returncode < 0:
        sig = -returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGXCPU:
            return "timeout", "the worker exceeded its CPU-time limit (SIGXCPU)"
        if sig == signal.SIGKILL:
            return "memory", "the worker was killed (SIGKILL: out of memory?)"
        return "crash", f"the worker crashed ({name})"
    if "MemoryError" in stderr_tail:
        return "memory", "the worker ran out of memory (address-space limit)"
    tail = f": {stderr_tail}" if stderr_tail else ""
    return "crash", f"the worker exited (code {returncode}){tail}"


class Worker:
    """One worker process and its two pipes."""

    def __init__(self):
        to_child, from_parent = os.pipe()[::-1]  # (write end, read end)
        from_child, to_parent = os.pipe()
        if fcntl is not None:
            for fd in (to_child, to_parent):
                try:
                    fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)
                except OSError:  # pragma: no cover - capped by /proc/sys/fs/pipe-max-size
                    pass
        env = dict(os.environ)
        env.update({var: "1" for var in _THREAD_VARS})  # one BLAS thread: less address space
        self.stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, *_FLAGS, "-c", _BOOT, _PACKAGE_ROOT, str(from_parent),
                 str(to_parent)],
                pass_fds=(from_parent, to_parent), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=self.stderr, env=env, close_fds=True,
                cwd=_PACKAGE_ROOT,
                start_new_session=True)  # a terminal's Ctrl-C is the caller's to handle
        finally:
            os.close(from_parent)
            os.close(to_parent)
        self.wfd, self.rfd = to_child, from_child
        self.buffer = bytearray()
        self.poll = select.poll()
        self.poll.register(self.rfd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.booted = self.ready = self.dead = False

    def alive(self) -> bool:
        return not self.dead and self.proc.poll() is None

    def send(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.wfd, view):]
        except OSError as exc:  # BrokenPipeError: the worker is gone
            raise self._lost_by_exit() from exc

    def recv(self, deadline: float, what: str) -> bytes:
        """The next frame, or Lost: ``what`` names what took too long."""
        while True:
            if len(self.buffer) >= 4:
                try:
                    n = p.frame_length(bytes(self.buffer[:4]))
                except p.ProtocolError as exc:
                    raise Lost("crash", f"the worker broke the protocol ({exc})") from None
                if len(self.buffer) >= 4 + n:
                    frame = bytes(self.buffer[4:4 + n])
                    del self.buffer[:4 + n]
                    return frame
            left = deadline - time.perf_counter()
            # Past the deadline, look once more without waiting: a caller that was itself
            # descheduled must not blame a worker whose answer is already in the pipe.
            if not self.poll.poll(max(0, math.ceil(left * 1000))):
                if left <= 0:
                    raise Lost("timeout", what)
                continue
            chunk = os.read(self.rfd, 1 << 16)
            if not chunk:
                raise self._lost_by_exit()
            self.buffer += chunk

    def _lost_by_exit(self) -> Lost:
        try:
            self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self.kill()
        return Lost(*_describe_exit(self.proc.returncode, self.stderr_tail()))

    def stderr_tail(self) -> str:
        try:
            self.stderr.seek(max(0, os.fstat(self.stderr.fileno()).st_size - 400))
            text = self.stderr.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return "".join(c for c in (lines[-1] if lines else "") if c.isprintable())[:200]

    def wait_booted(self, deadline: float) -> None:
        if not self.booted:
            frame = self.recv(deadline, "the worker did not start in time")
            if frame[:1] != p.BOOTED:
                raise Lost("crash", "the worker broke the protocol (no BOOTED)")
            self.booted = True

    def kill(self) -> None:
        if not self.dead:
            self.dead = True
            try:
                self.proc.kill()
                self.proc.wait(timeout=5.0)
            except (OSError, subprocess.TimeoutExpired):  # pragma: no cover
                pass
            for fd in (self.wfd, self.rfd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.stderr.close()


# A booted worker kept for the next policy (or the next restart): starting an interpreter and
# numpy takes ~0.3 s, which then overlaps with other work.
_spare_lock = threading.Lock()
_spare: Worker | None = None


def take_worker() -> Worker:
    """A worker, booted or booting (Lost if none can be started: no processes left, ...)."""
    global _spare
    with _spare_lock:
        worker, _spare = _spare, None
        if worker is None or not worker.alive():
            if worker is not None:
                worker.kill()
            try:
                worker = Worker()
            except OSError as exc:
                raise Lost("crash", f"cannot start a sandbox worker: {exc}") from None
        try:
            _spare = Worker()
        except OSError:
            _spare = None  # no spare this time: the next policy starts its own
    return worker


@atexit.register
def _drop_spare() -> None:
    global _spare
    with _spare_lock:
        if _spare is not None:
            _spare.kill()
            _spare = None


__all__ = ["Lost", "Worker", "take_worker"]
