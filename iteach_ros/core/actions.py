"""Actions between the action spaces (ROS-free, MuJoCo-free)."""

from __future__ import annotations

import numpy as np

from iteach_ros.core import ACTION_DIM


def in_action_space(action, dim: int = ACTION_DIM) -> np.ndarray:
    """A teacher's 4-D action (dx, dy, dz, gripper) in a ``dim``-D action space: in 7-D the
    rotation (droll, dpitch, dyaw) is zero, inserted before the gripper, so a CodePolicy that
    only translates holds the tool's orientation. Any other length is returned as it is, for
    ``check_action`` to judge."""
    a = np.asarray(action, dtype=float).reshape(-1)
    if dim == 7 and a.size == 4:
        return np.concatenate([a[:3], np.zeros(3), a[3:]])
    return a
