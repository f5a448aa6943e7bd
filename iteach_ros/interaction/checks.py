"""Checks of data where it enters the core: whatever comes over the wire (or from a generated
program) is refused with a reason here before it can reach an arbiter decision, a buffer, a
journal, a loss or a checkpoint. Nothing out of range is clipped into training data."""

from __future__ import annotations

import numpy as np

from iteach_ros.core import ACTION_BOUND, ACTION_DIM, PROPRIO_DIM
from iteach_ros.learning.arbiter import FeedbackKind


class InvalidData(ValueError):
    """Data that must not enter the core, with the reason."""


def check_action(values, dim: int = ACTION_DIM, what: str = "action") -> np.ndarray:
    """``dim`` finite values within [-1, 1] as float64, else InvalidData."""
    try:
        a = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidData(f"{what} is not a numeric vector") from exc
    if a.size != dim:
        raise InvalidData(f"{what} has {a.size} values, the action space has {dim}")
    if not np.all(np.isfinite(a)):
        raise InvalidData(f"{what} has non-finite values {a.tolist()}")
    if np.any(np.abs(a) > ACTION_BOUND):
        raise InvalidData(f"{what} {np.round(a, 4).tolist()} is outside [-{ACTION_BOUND:g}, "
                          f"{ACTION_BOUND:g}]")
    return a


def check_kind(kind) -> FeedbackKind:
    try:
        return FeedbackKind(int(kind))
    except (TypeError, ValueError) as exc:
        raise InvalidData(f"unknown feedback kind {kind!r}") from exc


def check_proprio(values, dim: int = PROPRIO_DIM) -> np.ndarray:
    p = np.asarray(values, dtype=np.float64).reshape(-1)
    if p.size != dim or not np.all(np.isfinite(p)) or np.any(np.abs(p) > 1e3):
        raise InvalidData(f"proprioception must be {dim} finite values, got "
                          f"{np.round(p, 4).tolist()}")
    return p.astype(np.float32)


def check_image(image: np.ndarray, side: int) -> np.ndarray:
    if image.shape != (side, side, 3) or image.dtype != np.uint8:
        raise InvalidData(f"wrist image is {image.shape} {image.dtype}, the policy takes "
                          f"({side}, {side}, 3) uint8")
    return image
