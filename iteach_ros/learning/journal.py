"""An append-only journal of the episode in progress, so a learner that dies mid-episode loses
nothing: observations are written when the learner acts on them, feedback when it arrives, and
a restarted learner rebuilds the partial episode from the file.

A magic header, then fixed-size binary records (type, run id, episode, step, the message's
stamp in ns, payload), flushed
on write; a torn last record from a crash is ignored on reading. A file without the header (an
older format, or not a journal) is refused with ``JournalError`` naming it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from iteach_ros.learning.files import atomic_write

MAGIC = b"ITJ3"  # iteach_ros journal, format 3 (records carry the run id and the stamp)
_HEAD = struct.Struct("<BQIIq")  # record type, run id, episode, step, stamp (ns)
_OBS, _FEEDBACK = 1, 2
EpisodeKey = tuple[int, int]  # (run id, episode)


class JournalError(ValueError):
    """A journal file that cannot be read."""


@dataclass
class JournalEpisode:
    observations: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    feedback: dict[int, tuple[np.ndarray, int, bool]] = field(default_factory=dict)
    stamp_ns: int = -1  # the newest record's message stamp: how recent the episode's run is

    def steps(self) -> list[int]:
        """Steps with both an observation and its feedback, in order: the trainable ones."""
        return sorted(set(self.observations) & set(self.feedback))


class EpisodeJournal:
    def __init__(self, path: str | Path, image_shape=(128, 128, 3), proprio_dim: int = 8,
                 action_dim: int = 4):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.image_shape = tuple(image_shape)
        self.proprio_dim, self.action_dim = proprio_dim, action_dim
        self._image_bytes = int(np.prod(self.image_shape))
        self._obs_size = 4 * proprio_dim + self._image_bytes
        self._fb_size = 4 * action_dim + 2
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb") as fh:
                if fh.read(len(MAGIC)) != MAGIC:
                    raise JournalError(f"{self.path} is not an iteach_ros journal of format "
                                       f"{MAGIC.decode()}")
        self._fd = None
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(self._fd).st_size == 0:
            os.write(self._fd, MAGIC)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def log_observation(self, key: EpisodeKey, step: int, image: np.ndarray, proprio,
                        stamp_ns: int = -1) -> None:
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if image.shape != self.image_shape:
            raise ValueError(f"image shape {image.shape} != journal's {self.image_shape}")
        os.write(self._fd, _HEAD.pack(_OBS, key[0], key[1], step, stamp_ns)
                 + np.asarray(proprio, dtype="<f4").reshape(self.proprio_dim).tobytes()
                 + image.tobytes())

    def log_feedback(self, key: EpisodeKey, step: int, action, kind: int, train: bool,
                     stamp_ns: int = -1) -> None:
        os.write(self._fd, _HEAD.pack(_FEEDBACK, key[0], key[1], step, stamp_ns)
                 + np.asarray(action, dtype="<f4").reshape(self.action_dim).tobytes()
                 + bytes([int(kind), int(bool(train))]))

    def _records(self):
        """(type, key, step, stamp, record bytes, body bytes) of every whole record."""
        data = self.path.read_bytes() if self.path.exists() else b""
        pos = len(MAGIC)
        while pos + _HEAD.size <= len(data):
            kind, run, episode, step, stamp = _HEAD.unpack_from(data, pos)
            size = self._obs_size if kind == _OBS else self._fb_size
            end = pos + _HEAD.size + size
            if kind not in (_OBS, _FEEDBACK) or end > len(data):
                return  # a torn tail from a crash
            yield kind, (run, episode), step, stamp, data[pos:end], data[pos + _HEAD.size:end]
            pos = end

    def read(self) -> dict[EpisodeKey, JournalEpisode]:
        """Every episode in the file; a truncated final record is skipped."""
        out: dict[EpisodeKey, JournalEpisode] = {}
        for kind, key, step, stamp, _, body in self._records():
            ep = out.setdefault(key, JournalEpisode())
            ep.stamp_ns = max(ep.stamp_ns, stamp)
            if kind == _OBS:
                n = 4 * self.proprio_dim
                proprio = np.frombuffer(body[:n], dtype="<f4").astype(np.float32)
                image = np.frombuffer(body[n:], dtype=np.uint8).reshape(self.image_shape)
                ep.observations[step] = (image, proprio)
            else:
                n = 4 * self.action_dim
                action = np.frombuffer(body[:n], dtype="<f4").astype(np.float32)
                ep.feedback[step] = (action, body[n], bool(body[n + 1]))
        return out

    def discard(self, key: EpisodeKey) -> None:
        """Drop one episode's records (it became a saved trajectory); keep the others, e.g. a
        next episode whose first observation arrived before this one's end event."""
        kept = MAGIC + b"".join(rec for _, k, _, _, rec, _ in self._records() if k != key)
        self.close()
        atomic_write(self.path, lambda fh: fh.write(kept))
        self._open()
