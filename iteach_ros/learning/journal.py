"""An append-only journal of the episode in progress, so a learner that dies mid-episode loses
nothing: observations are written when the learner acts on them, feedback when it arrives, and
a restarted learner rebuilds the partial episode from the file.

Fixed-size binary records (type, episode, step, payload), flushed on write; a torn last record
from a crash is ignored on reading.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_HEAD = struct.Struct("<BII")  # record type, episode, step
_OBS, _FEEDBACK = 1, 2


@dataclass
class JournalEpisode:
    observations: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    feedback: dict[int, tuple[np.ndarray, int, bool]] = field(default_factory=dict)

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
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def log_observation(self, episode: int, step: int, image: np.ndarray, proprio) -> None:
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if image.shape != self.image_shape:
            raise ValueError(f"image shape {image.shape} != journal's {self.image_shape}")
        os.write(self._fd, _HEAD.pack(_OBS, episode, step)
                 + np.asarray(proprio, dtype="<f4").reshape(self.proprio_dim).tobytes()
                 + image.tobytes())

    def log_feedback(self, episode: int, step: int, action, kind: int, train: bool) -> None:
        os.write(self._fd, _HEAD.pack(_FEEDBACK, episode, step)
                 + np.asarray(action, dtype="<f4").reshape(self.action_dim).tobytes()
                 + bytes([int(kind), int(bool(train))]))

    def _records(self):
        """(type, episode, step, record bytes, body bytes) of every whole record."""
        data = self.path.read_bytes() if self.path.exists() else b""
        pos = 0
        while pos + _HEAD.size <= len(data):
            kind, episode, step = _HEAD.unpack_from(data, pos)
            size = self._obs_size if kind == _OBS else self._fb_size
            end = pos + _HEAD.size + size
            if kind not in (_OBS, _FEEDBACK) or end > len(data):
                return  # a torn tail from a crash
            yield kind, episode, step, data[pos:end], data[pos + _HEAD.size:end]
            pos = end

    def read(self) -> dict[int, JournalEpisode]:
        """Every episode in the file; a truncated final record is skipped."""
        out: dict[int, JournalEpisode] = {}
        for kind, episode, step, _, body in self._records():
            ep = out.setdefault(episode, JournalEpisode())
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

    def discard(self, episode: int) -> None:
        """Drop one episode's records (it became a saved trajectory); keep the others, e.g. a
        next episode whose first observation arrived before this one's end event."""
        kept = b"".join(rec for _, ep, _, rec, _ in self._records() if ep != episode)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(kept)
        os.close(self._fd)
        tmp.replace(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
