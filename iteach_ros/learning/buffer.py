"""Replay buffer of whole trajectories with feedback labels (CEILing's training data).

Each step stores the wrist image, proprioception, the executed action (the training label) and
the feedback kind. The learner trains on batches of whole trajectories resampled to a fixed
length (150 in the paper), weighting each step by its kind: evaluative 1, corrective
alpha = all samples / corrective samples (1 until 10 corrective samples exist), none 0.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from iteach_ros.learning.arbiter import FeedbackKind
from iteach_ros.learning.files import atomic_write

SEQUENCE_LENGTH = 150  # paper/CEILing: trajectories resampled to 150 steps
SEQUENCE_MODES = ("resample", "window")  # how trajectories reach SEQUENCE_LENGTH
ALPHA_MIN_CORRECTIVE = 10  # alpha stays 1 until this many corrective samples exist


@dataclass
class Trajectory:
    """One episode. Arrays have the step as their first axis."""

    images: np.ndarray  # (T, H, W, 3) uint8 wrist RGB
    proprio: np.ndarray  # (T, P) float32: joint positions (rad) + gripper opening (m)
    actions: np.ndarray  # (T, A) float32 executed action, normalised [-1, 1]
    kinds: np.ndarray  # (T,) uint8 FeedbackKind
    meta: dict = field(default_factory=dict)  # literals only: task, seed, success, source
    mask: np.ndarray | None = None  # (T,) uint8, 0 = not trained on (ablations); None = all 1

    def __post_init__(self):
        t = len(self.actions)
        if self.mask is None:
            self.mask = np.ones(t, dtype=np.uint8)
        for name in ("images", "proprio", "kinds", "mask"):
            if len(getattr(self, name)) != t:
                raise ValueError(f"trajectory field {name!r} has {len(getattr(self, name))} "
                                 f"steps, actions has {t}")
        if t == 0:
            raise ValueError("a trajectory needs at least one step")
        # Nothing non-finite or out of range reaches a buffer (and from there a loss).
        if not (np.all(np.isfinite(self.proprio)) and np.all(np.isfinite(self.actions))):
            raise ValueError("trajectory has non-finite proprioception or actions")
        if np.any(np.abs(self.actions) > 1.0):
            raise ValueError("trajectory has actions outside [-1, 1]")
        if self.images.dtype != np.uint8 or np.any(self.kinds > max(FeedbackKind)):
            raise ValueError("trajectory images must be uint8 and kinds FeedbackKind values")

    def __len__(self) -> int:
        return len(self.actions)


class TrajectoryBuilder:
    """Collects one episode step by step, then freezes it into a Trajectory."""

    def __init__(self, **meta):
        self.meta = meta
        self._images, self._proprio, self._actions, self._kinds, self._mask = [], [], [], [], []

    def add(self, image, proprio, action, kind: FeedbackKind | int, train: bool = True) -> None:
        self._images.append(np.asarray(image, dtype=np.uint8))
        self._proprio.append(np.asarray(proprio, dtype=np.float32))
        self._actions.append(np.asarray(action, dtype=np.float32))
        self._kinds.append(int(kind))
        self._mask.append(1 if train else 0)

    def __len__(self) -> int:
        return len(self._actions)

    def build(self, **more_meta) -> Trajectory:
        return Trajectory(np.stack(self._images), np.stack(self._proprio),
                          np.stack(self._actions), np.asarray(self._kinds, dtype=np.uint8),
                          {**self.meta, **more_meta}, np.asarray(self._mask, dtype=np.uint8))


def resample_indices(length: int, target: int = SEQUENCE_LENGTH) -> np.ndarray:
    """Nearest-step indices that stretch or compress a trajectory to ``target`` steps, keeping
    its first and last step (time-uniform, as CEILing resamples)."""
    if length < 1:
        raise ValueError("cannot resample an empty trajectory")
    return np.rint(np.linspace(0, length - 1, target)).astype(np.int64)


def window_indices(length: int, target: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Real-time alternative to resampling: a trajectory shorter than ``target`` is padded
    (valid mask 0 on the padding), a longer one cut to a random window of ``target`` steps.
    The LSTM then sees steps at the rate it acts at, where stretching a 50-step episode to 150
    shows it every frame three times. Returns (indices, valid mask)."""
    if length < 1:
        raise ValueError("cannot window an empty trajectory")
    if length >= target:
        start = int(rng.integers(0, length - target + 1))
        return np.arange(start, start + target), np.ones(target, dtype=np.float32)
    idx = np.minimum(np.arange(target), length - 1)
    return idx, (np.arange(target) < length).astype(np.float32)


def corrective_alpha(total: int, corrective: int) -> float:
    """Weight of corrective samples: all samples / corrective samples, 1 below the minimum."""
    if corrective < ALPHA_MIN_CORRECTIVE:
        return 1.0
    return total / corrective


@dataclass
class Batch:
    """Padded-free batch: every trajectory resampled to the same length L."""

    frames: np.ndarray  # (N, H, W, 3) uint8: the distinct source frames of all trajectories
    frame_index: np.ndarray  # (B, L) int64 into frames: the resampled sequences
    proprio: np.ndarray  # (B, L, P)
    actions: np.ndarray  # (B, L, A)
    weights: np.ndarray  # (B, L) float32 loss weights (kind weight * alpha)


class ReplayBuffer:
    """Thread-safe store of trajectories; the collector appends while the trainer samples."""

    def __init__(self, sequence_length: int = SEQUENCE_LENGTH, mode: str = "resample"):
        if mode not in SEQUENCE_MODES:
            raise ValueError(f"mode must be one of {SEQUENCE_MODES}, got {mode!r}")
        self.sequence_length = sequence_length
        self.mode = mode
        self.trajectories: list[Trajectory] = []
        self._lock = threading.Lock()
        self._counts = np.zeros(3, dtype=np.int64)  # per FeedbackKind

    def __len__(self) -> int:
        return len(self.trajectories)

    def add(self, trajectory: Trajectory) -> None:
        with self._lock:
            self.trajectories.append(trajectory)
            self._counts += np.bincount(trajectory.kinds, minlength=3)[:3]

    def clear(self) -> None:
        with self._lock:
            self.trajectories.clear()
            self._counts[:] = 0

    @property
    def num_samples(self) -> int:
        return int(self._counts.sum())

    @property
    def num_corrective(self) -> int:
        return int(self._counts[FeedbackKind.CORRECTIVE])

    def alpha(self) -> float:
        return corrective_alpha(self.num_samples, self.num_corrective)

    def kind_weights(self) -> np.ndarray:
        """Loss weight per FeedbackKind value."""
        w = np.zeros(3, dtype=np.float32)
        w[FeedbackKind.EVALUATIVE] = 1.0
        w[FeedbackKind.CORRECTIVE] = self.alpha()
        return w

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Draw ``batch_size`` trajectories uniformly (with replacement when fewer exist)."""
        with self._lock:
            if not self.trajectories:
                raise ValueError("the replay buffer is empty")
            picks = rng.choice(len(self.trajectories), size=batch_size,
                               replace=batch_size > len(self.trajectories))
            chosen = [self.trajectories[i] for i in picks]
            kind_w = self.kind_weights()
        # Each distinct trajectory's frames go through the CNN once, however often resampling
        # repeats them: episodes shorter than L would otherwise be convolved several times.
        unique, inverse = np.unique(picks, return_inverse=True)
        offsets = np.cumsum([0] + [len(self.trajectories[i]) for i in unique])
        frames = np.concatenate([self.trajectories[i].images for i in unique])
        L = self.sequence_length
        if self.mode == "resample":
            idx = np.stack([resample_indices(len(t), L) for t in chosen])
            valid = np.ones(idx.shape, dtype=np.float32)
        else:
            pairs = [window_indices(len(t), L, rng) for t in chosen]
            idx, valid = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        frame_index = idx + offsets[inverse][:, None]
        proprio = np.stack([t.proprio[i] for t, i in zip(chosen, idx)])
        actions = np.stack([t.actions[i] for t, i in zip(chosen, idx)])
        weights = np.stack([kind_w[t.kinds[i]] * t.mask[i] for t, i in zip(chosen, idx)]) * valid
        return Batch(frames, frame_index, proprio, actions, weights.astype(np.float32))

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write every trajectory to one .npz file (lossless; written atomically)."""
        with self._lock:
            trajs = list(self.trajectories)
        arrays = {"sequence_length": np.array(self.sequence_length),
                  "count": np.array(len(trajs))}
        for i, t in enumerate(trajs):
            arrays.update({f"{i}/{k}": v for k, v in _arrays(t).items()})
        return atomic_write(path, lambda fh: np.savez(fh, **arrays))

    @classmethod
    def load(cls, path: str | Path) -> ReplayBuffer:
        with np.load(path, allow_pickle=False) as data:
            buf = cls(int(data["sequence_length"]))
            for i in range(int(data["count"])):
                buf.add(_from_arrays(lambda k, i=i: data[f"{i}/{k}"]))
        return buf


def _arrays(t: Trajectory) -> dict[str, np.ndarray]:
    """A trajectory as named arrays (meta as the repr of a dict of literals)."""
    return {"images": t.images, "proprio": t.proprio, "actions": t.actions, "kinds": t.kinds,
            "mask": t.mask, "meta": np.array(repr(t.meta))}


def _from_arrays(get) -> Trajectory:
    import ast

    return Trajectory(get("images"), get("proprio"), get("actions"), get("kinds"),
                      ast.literal_eval(str(get("meta"))), get("mask"))


def save_trajectory(trajectory: Trajectory, path: str | Path) -> Path:
    """One trajectory per file: an append-only on-disk buffer (written atomically)."""
    arrays = _arrays(trajectory)
    return atomic_write(path, lambda fh: np.savez(fh, **arrays))


def load_trajectory(path: str | Path) -> Trajectory:
    with np.load(path, allow_pickle=False) as d:
        return _from_arrays(lambda k: d[k])
