"""Files the learner writes and reads back: written whole or not at all, and a file that cannot
be read is named and moved aside instead of stopping the learner.

- ``atomic_write``: into a hidden temporary file in the same folder (``.<name>.partial``, which
  no ``*.npz`` / ``*.pt`` glob matches), flushed and fsynced, then renamed over the target and
  the folder fsynced: a crash leaves the old file or the new one, never a torn one.
- A full disk is reported as such (``DiskFullError``), not as a library's internal message.
- ``quarantine``: an unreadable file goes to ``<folder>/unreadable/`` with the reason logged by
  the caller.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

LOW_SPACE_BYTES = 64 << 20  # a failed write with less free space than this: the disk is full


class DiskFullError(OSError):
    """A write failed because the file system is full."""


def _disk_full(exc: BaseException, folder: Path) -> bool:
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    try:  # libraries that swallow the errno (torch's zip writer): look at the disk itself
        return shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    except OSError:
        return False


def atomic_write(path: str | Path, write: Callable) -> Path:
    """``write(fh)`` fills a binary file object; the result replaces ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, Exception) and _disk_full(exc, path.parent):
            free = shutil.disk_usage(path.parent).free
            raise DiskFullError(errno.ENOSPC, f"disk full: could not write {path} ({free} "
                                f"bytes free)") from exc
        raise
    return path


def quarantine(path: str | Path) -> Path:
    """Move an unreadable file to ``<folder>/unreadable/`` (never overwriting); the new path."""
    path = Path(path)
    target_dir = path.parent / "unreadable"
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    n = 1
    while target.exists():
        target = target_dir / f"{path.stem}.{n}{path.suffix}"
        n += 1
    os.replace(path, target)
    return target
