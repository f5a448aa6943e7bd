"""What the simulator reports at each step, as every layer reads it (ROS-free, MuJoCo-free):
an object's state (the CodePolicy's ``get_object``) and the observation (the learner's input)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GRIPPER = "gripper"  # the object name under which the tool's state is reported
IDENTITY_QUAT_XYZW = (0.0, 0.0, 0.0, 1.0)


@dataclass
class ObjectState:
    """Privileged state of one scene object, as the simulator reports it (world frame, metres;
    the fields are described in ``codepolicy.runtime.OBJECT_ATTRIBUTES``)."""

    name: str
    position: np.ndarray
    normal: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    gripped: bool = False
    can_be_gripped: bool = False
    closed: bool = False
    quaternion: np.ndarray = field(default_factory=lambda: np.array(IDENTITY_QUAT_XYZW))
    joint_positions: np.ndarray | None = None  # the gripper's: the arm's 7 joints


@dataclass
class Observation:
    """One observation: what the learner sees and what the teacher (CodePolicy) reads."""

    wrist_rgb: np.ndarray | None  # uint8 (128, 128, 3), None when render_wrist=False
    proprio: np.ndarray  # float32 (8,): 7 joint positions (rad) + gripper opening (m)
    objects: dict[str, ObjectState]  # privileged states, including 'gripper'
    ee_position: np.ndarray  # tool point (between the fingertips), world frame, metres
    step: int
