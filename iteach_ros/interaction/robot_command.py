"""The robot contract's command semantics, ROS-free: one normalised action of the paper's action
space <-> an end-effector velocity and a gripper target, as a robot driver takes them.

An action is a displacement per control step (``TRANSLATION_STEP_M`` per unit, the 7-D mode's
rotation ``ROTATION_STEP_RAD`` per unit) held for one control period, so the velocity is
displacement / period: the paper's 1 cm per 50 ms is 0.2 m/s. ``velocity_scale`` slows (or
speeds) a platform uniformly; ``max_linear_speed`` caps the norm; ``workspace_low/high`` keep
the tool point inside a box (the component that would leave it is cut at the wall). The gripper
action's sign (> 0 open, < 0 close, 0 keep) becomes a finger position target, repeated every
step (a driver needs no memory of earlier commands).

``policy`` node (sending) and sim_bridge's ``robot`` command interface (receiving) both use
this module, so the two ends cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from iteach_ros.core import (
    ACTION_DIMS,
    CONTROL_HZ,
    FINGER_OPEN_M,
    ROTATION_STEP_RAD,
    TRANSLATION_STEP_M,
)


@dataclass(frozen=True)
class CommandLimits:
    """How an action becomes a command on one platform (config/robot_contract.yaml)."""

    period_s: float = 1.0 / CONTROL_HZ  # one control step
    translation_step_m: float = TRANSLATION_STEP_M  # action 1.0 per step
    rotation_step_rad: float = ROTATION_STEP_RAD
    velocity_scale: float = 1.0  # 1.0: the paper's speed
    max_linear_speed: float = 0.5  # m/s, norm cap after scaling
    workspace_low: tuple[float, float, float] = (-1.0, -1.0, -0.1)  # base frame, m
    workspace_high: tuple[float, float, float] = (1.5, 1.0, 1.5)
    gripper_open: float = FINGER_OPEN_M  # finger target for "open"; closed is 0
    action_mode: str = "4d"

    def __post_init__(self):
        if not (self.period_s > 0 and self.translation_step_m > 0 and self.velocity_scale > 0
                and self.max_linear_speed > 0 and self.gripper_open > 0):
            raise ValueError(f"command limits must be positive: {self}")
        if self.action_mode not in ACTION_DIMS:
            raise ValueError(f"action_mode must be one of {sorted(ACTION_DIMS)}")
        if not all(lo < hi for lo, hi in zip(self.workspace_low, self.workspace_high)):
            raise ValueError(f"workspace_low must be below workspace_high: {self.workspace_low}"
                             f" / {self.workspace_high}")

    @property
    def action_dim(self) -> int:
        return ACTION_DIMS[self.action_mode]

    @property
    def speed_per_unit(self) -> float:
        """m/s for translation action 1.0 at velocity_scale 1."""
        return self.translation_step_m / self.period_s


@dataclass(frozen=True)
class Command:
    """What the driver executes for one step: base-frame velocities and a finger target."""

    linear: np.ndarray  # m/s (3)
    angular: np.ndarray  # rad/s (3), zero in 4-D mode
    gripper: float  # finger position target, m (0 closed, limits.gripper_open open)


def gripper_target(action_gripper: float, previous: float, limits: CommandLimits) -> float:
    """Sign of the gripper action -> finger target; 0 keeps ``previous``."""
    if action_gripper > 0:
        return limits.gripper_open
    if action_gripper < 0:
        return 0.0
    return previous


def action_to_command(values, limits: CommandLimits, previous_gripper: float) -> Command:
    """A normalised action (finite, length action_dim) -> the command to publish."""
    a = np.asarray(values, dtype=np.float64)
    if a.shape != (limits.action_dim,) or not np.all(np.isfinite(a)):
        raise ValueError(f"expected {limits.action_dim} finite action values, got {values!r}")
    a = np.clip(a, -1.0, 1.0)
    linear = a[:3] * (limits.speed_per_unit * limits.velocity_scale)
    speed = float(np.linalg.norm(linear))
    if speed > limits.max_linear_speed:
        linear = linear * (limits.max_linear_speed / speed)
    angular = (a[3:6] * (limits.rotation_step_rad / limits.period_s * limits.velocity_scale)
               if limits.action_dim == 7 else np.zeros(3))
    return Command(linear, angular, gripper_target(float(a[-1]), previous_gripper, limits))


def inside_workspace(linear, tool_position, limits: CommandLimits) -> np.ndarray:
    """The velocity with the component cut that would take the tool out of the box within one
    period (the driver's side: it knows where the tool is)."""
    v = np.asarray(linear, dtype=np.float64)
    p = np.asarray(tool_position, dtype=np.float64)
    target = np.clip(p + v * limits.period_s, limits.workspace_low, limits.workspace_high)
    reached = p + v * limits.period_s
    return np.where(target == reached, v, (target - p) / limits.period_s)


def command_to_action(linear, angular, gripper: float, limits: CommandLimits) -> np.ndarray:
    """The driver's side: a received command -> the simulator's normalised action. A finger
    target above half the opening is "open", else "close" (every command restates it)."""
    v = np.asarray(linear, dtype=np.float64)
    w = np.asarray(angular, dtype=np.float64)
    if v.shape != (3,) or w.shape != (3,) or not (np.all(np.isfinite(v)) and np.all(np.isfinite(w))
                                                  and math.isfinite(gripper)):
        raise ValueError("a command needs finite linear (3), angular (3) and gripper values")
    translation = v / limits.speed_per_unit
    grip = 1.0 if gripper > 0.5 * limits.gripper_open else -1.0
    if limits.action_dim == 7:
        rotation = w * limits.period_s / limits.rotation_step_rad
        return np.concatenate([translation, rotation, [grip]])
    return np.concatenate([translation, [grip]])
