"""Object states from a camera instead of the simulator (the paper's open question 3), in the
simulator: the fixed ``over_shoulder`` camera's depth and segmentation renderings stand in for
a depth camera and an instance segmenter (the ``front`` camera faces the robot and sees the
microwave's back). :class:`CameraRig` renders what a robot's camera would deliver (depth, a
label image, intrinsics, the camera's pose); the estimation itself is
``core.perception`` (the same code the graph's ``perception`` node runs).

:class:`PerceivedStates` wraps an environment: ``reset`` and ``step`` return observations whose
objects are perceived; everything else passes through.
"""

from __future__ import annotations

import mujoco
import numpy as np

from iteach_ros.core.perception import (
    ObjectEstimator,
    Pinhole,
    back_project,
    merge_perceived,
    quat_to_matrix,
)
from iteach_ros.sim.frames import OPTICAL_FROM_MUJOCO_CAMERA, camera_intrinsics

PERCEPTION_CAMERA = "over_shoulder"
PERCEPTION_SIZE = 256  # at 128 px the button is only a few pixels wide
_OPTICAL = quat_to_matrix(OPTICAL_FROM_MUJOCO_CAMERA)
# An int: comparing an array with the pybind enum itself runs per element in Python (~130 ms
# for 256 x 256 pixels, ten times the two renders).
_GEOM = int(mujoco.mjtObj.mjOBJ_GEOM)


class CameraRig:
    """One fixed camera of the scene as a robot's RGB-D camera plus segmenter delivers it."""

    def __init__(self, env, camera: str = PERCEPTION_CAMERA, size: int = PERCEPTION_SIZE):
        from iteach_ros.core.tasks import object_names

        m = env.model
        self.env, self.size, self.camera = env, size, camera
        self.cam = m.camera(camera).id
        self.intrinsics = camera_intrinsics(m, camera, size, size)
        k = self.intrinsics
        self.pinhole = Pinhole(k.fx, k.fy, k.cx, k.cy)
        self.depth = mujoco.Renderer(m, size, size)
        self.depth.enable_depth_rendering()
        self.seg = mujoco.Renderer(m, size, size)
        self.seg.enable_segmentation_rendering()
        self.names = object_names(env.task_name)
        # geom id -> label: i + 1 for the i-th object's body, 0 for the rest
        self.geom_label = np.zeros(m.ngeom + 1, dtype=np.uint16)  # last entry: no geom
        for i, name in enumerate(self.names):
            self.geom_label[np.flatnonzero(m.geom_bodyid == env._site_body[name])] = i + 1

    def close(self) -> None:
        self.depth.close()
        self.seg.close()

    def pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The optical frame's (rotation, translation) in the world."""
        d = self.env.data
        return d.cam_xmat[self.cam].reshape(3, 3) @ _OPTICAL, d.cam_xpos[self.cam].copy()

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """(depth H x W float32 metres, labels H x W uint16)."""
        d = self.env.data
        self.depth.update_scene(d, self.camera)
        depth = self.depth.render()  # float32 metres
        self.seg.update_scene(d, self.camera)
        seg = self.seg.render()
        geom = np.where(seg[..., 1] == _GEOM, seg[..., 0], -1)
        return depth, self.geom_label[geom]


class Perception:
    """The rig's images -> per-object position (and normal): ``core.perception``."""

    def __init__(self, env, camera: str = PERCEPTION_CAMERA, size: int = PERCEPTION_SIZE):
        self.rig = CameraRig(env, camera, size)
        self.estimator = ObjectEstimator(
            self.rig.names, {n for n, _, _ in getattr(env.task, "normal_towards", ())})

    def reset(self) -> None:
        self.estimator.reset()

    def close(self) -> None:
        self.rig.close()

    def estimate(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """name -> (position, normal) for every object seen so far in the episode."""
        depth, labels = self.rig.render()
        rotation, translation = self.rig.pose()
        points = back_project(depth, self.rig.pinhole, rotation, translation)
        return self.estimator.estimate(points, labels, translation)


class PerceivedStates:
    """An environment whose observations carry perceived object states."""

    def __init__(self, env, camera: str = PERCEPTION_CAMERA, size: int = PERCEPTION_SIZE):
        self.env = env
        self.perception = Perception(env, camera, size)

    def __getattr__(self, name):
        return getattr(self.env, name)

    def _perceive(self, obs):
        obs.objects = merge_perceived(obs.objects, self.perception.estimate(),
                                      self.env.task.graspable)
        return obs

    def reset(self, **kw):
        obs, info = self.env.reset(**kw)
        self.perception.reset()
        return self._perceive(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._perceive(obs), reward, terminated, truncated, info

    def close(self) -> None:
        self.perception.close()
        self.env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
