"""Object states from one calibrated depth camera and an instance labelling (the paper's open
question 3), ROS-free and MuJoCo-free: the one implementation that both the in-process
``sim.perception.PerceivedStates`` and the graph's ``perception`` node run.

Inputs, as a robot's perception stack has them: a depth image (metres along the optical axis),
a label image (per pixel: 0 for nothing, ``i + 1`` for the task's ``i``-th object of
``core.tasks.object_names``, what an instance segmenter would give), the camera's pinhole
intrinsics and its pose in the world (an optical frame: x right, y down, z forward).

Each object's position is the centroid of its visible surface; where the task reads an object's
normal (the microwave door) it is the normal of a plane fitted to those points, turned towards
the camera and flattened to the horizontal as the simulator's is. An object hidden in a frame
keeps its last estimate, as a tracker would; one never seen has none (``estimate`` leaves it
out). Orientation is not estimated.

``merge_perceived`` puts estimates into the robot's own object states: the gripper (its
kinematics) and the gripped flags (finger contact) stay the robot's knowledge, and
``can_be_gripped`` is recomputed from the perceived position with the tool's pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iteach_ros.core.state import GRIPPER, IDENTITY_QUAT_XYZW, ObjectState

# can_be_gripped: the object's grasp point lies in this box of the tool frame (the jaws)
JAW_HALF_EXTENT = np.array([0.025, 0.04, 0.03])
MIN_POINTS = 3  # fewer visible pixels than this: the object counts as hidden in the frame


@dataclass(frozen=True)
class Pinhole:
    """Intrinsics as ROS's CameraInfo K states them (pixel centres at integer coordinates)."""

    fx: float
    fy: float
    cx: float
    cy: float


def back_project(depth: np.ndarray, k: Pinhole, rotation: np.ndarray,
                 translation: np.ndarray) -> np.ndarray:
    """World points (H x W x 3) of a depth image (H x W, metres along the optical axis);
    ``rotation`` (3 x 3) and ``translation`` (3,): the optical frame's pose in the world."""
    h, w = depth.shape
    u = (np.arange(w) - k.cx) / k.fx
    v = (np.arange(h) - k.cy) / k.fy
    x, y = np.meshgrid(u, v)
    cam = np.stack([x * depth, y * depth, depth], axis=-1)
    return cam @ np.asarray(rotation).T + np.asarray(translation)


def quat_to_matrix(q) -> np.ndarray:
    """[x, y, z, w] unit quaternion -> rotation matrix."""
    x, y, z, w = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


class ObjectEstimator:
    """Labelled world points -> name -> (position, normal), with a tracker's memory."""

    def __init__(self, names, with_normal=()):
        self.names = tuple(names)
        self.with_normal = set(with_normal)
        unknown = self.with_normal - set(self.names)
        if unknown:
            raise ValueError(f"normals asked for objects that are not labelled: {sorted(unknown)}")
        self.last: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def reset(self) -> None:
        """A new scene: nothing seen before counts."""
        self.last.clear()

    def estimate(self, points: np.ndarray, labels: np.ndarray,
                 camera_position: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every object seen now or before; ``points`` H x W x 3 (world), ``labels`` H x W."""
        if points.shape[:2] != labels.shape:
            raise ValueError(f"label image {labels.shape} does not match the depth image "
                             f"{points.shape[:2]}")
        valid = np.all(np.isfinite(points), axis=-1)
        out = dict(self.last)
        for i, name in enumerate(self.names):
            pts = points[(labels == i + 1) & valid]
            if len(pts) < MIN_POINTS:
                continue  # hidden now: the last estimate stands
            centre = pts.mean(axis=0)
            normal = np.array([0.0, 0.0, 1.0])
            if name in self.with_normal:
                _, _, vt = np.linalg.svd(pts - centre, full_matrices=False)
                normal = vt[-1]
                if np.dot(normal, camera_position - centre) < 0:
                    normal = -normal
                normal[2] = 0.0
                normal /= max(np.linalg.norm(normal), 1e-9)
            out[name] = (centre, normal)
        self.last = out
        return out


def can_be_gripped(position: np.ndarray, gripper: ObjectState) -> bool:
    """The point lies between the open jaws of the tool (its pose: ``gripper``)."""
    tool = quat_to_matrix(gripper.quaternion)
    return bool(np.all(np.abs(tool.T @ (np.asarray(position) - gripper.position))
                       < JAW_HALF_EXTENT))


def merge_perceived(objects: dict[str, ObjectState],
                    estimates: dict[str, tuple[np.ndarray, np.ndarray]],
                    graspable=()) -> dict[str, ObjectState]:
    """The robot's object states with each perceived object's position and normal replaced; an
    object without an estimate (never seen) is reported at NaN, so a teacher that reads it
    fails visibly rather than acting on the simulator's truth."""
    gripper = objects[GRIPPER]
    out = {GRIPPER: gripper}
    for name, state in objects.items():
        if name == GRIPPER:
            continue
        pos, normal = estimates.get(name, (np.full(3, np.nan), np.array([0.0, 0.0, 1.0])))
        can = name in graspable and bool(np.all(np.isfinite(pos))) and can_be_gripped(pos, gripper)
        out[name] = ObjectState(name, np.asarray(pos, dtype=float), np.asarray(normal, float),
                                gripped=state.gripped, can_be_gripped=can,
                                quaternion=np.array(IDENTITY_QUAT_XYZW))
    return out
