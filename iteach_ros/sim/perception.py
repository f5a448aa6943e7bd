"""Object states from a camera instead of the simulator (the paper's open question 3): the
fixed ``over_shoulder`` camera's depth and segmentation renderings stand in for a detector
(the ``front`` camera faces the robot and sees the microwave's back).

Each named object's position is the centroid of its visible surface: the pixels whose geoms
belong to the object's body, back-projected with the depth into the world frame. Where the task
reads an object's normal (``Task.normal_towards``, e.g. the microwave door) it is the normal of
a plane fitted to those points, turned towards the camera, flattened to the horizontal as the
privileged one is. An object hidden in a frame (the arm in front of it) keeps its last
estimate, as a tracker would; one never seen is reported at NaN and the episode's teacher fails
on it, visibly. ``can_be_gripped`` is recomputed from the perceived position with the tool's
own pose. What stays the robot's own knowledge, not perception: the gripper's state (its
kinematics) and the gripped flags (finger contact sensing). Orientation is not estimated:
objects report the identity quaternion.

:class:`PerceivedStates` wraps an environment: ``reset`` and ``step`` return observations whose
objects are perceived; everything else passes through.
"""

from __future__ import annotations

import mujoco
import numpy as np

from iteach_ros.core.state import ObjectState

PERCEPTION_CAMERA = "over_shoulder"
PERCEPTION_SIZE = 256  # at 128 px the button is only a few pixels wide


class Perception:
    """Depth + segmentation from one fixed camera -> per-object position (and normal)."""

    def __init__(self, env, camera: str = PERCEPTION_CAMERA, size: int = PERCEPTION_SIZE):
        m = env.model
        self.env, self.size = env, size
        self.cam = m.camera(camera).id
        self.depth = mujoco.Renderer(m, size, size)
        self.depth.enable_depth_rendering()
        self.seg = mujoco.Renderer(m, size, size)
        self.seg.enable_segmentation_rendering()
        self.camera = camera
        f = 0.5 * size / np.tan(np.deg2rad(m.cam_fovy[self.cam]) / 2.0)
        u = (np.arange(size) + 0.5 - size / 2.0) / f
        self.rays_x, self.rays_y = np.meshgrid(u, -u)  # camera frame: x right, y up, -z ahead
        # the geoms of each object's body
        self.geoms = {name: np.flatnonzero(m.geom_bodyid == body)
                      for name, body in env._site_body.items()}
        self.with_normal = {n for n, _, _ in env.task.normal_towards}
        self.last: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def reset(self) -> None:
        self.last.clear()

    def close(self) -> None:
        self.depth.close()
        self.seg.close()

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """(world points HxWx3, geom id per pixel, -1 where no geom)."""
        d = self.env.data
        self.depth.update_scene(d, self.camera)
        depth = self.depth.render()
        self.seg.update_scene(d, self.camera)
        seg = self.seg.render()
        geom = np.where(seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM, seg[..., 0], -1)
        cam = np.stack([self.rays_x * depth, self.rays_y * depth, -depth], axis=-1)
        world = cam @ d.cam_xmat[self.cam].reshape(3, 3).T + d.cam_xpos[self.cam]
        return world, geom

    def estimate(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """name -> (position, normal) for every named object."""
        world, geom = self.points()
        cam_pos = self.env.data.cam_xpos[self.cam]
        out = {}
        for name, ids in self.geoms.items():
            pts = world[np.isin(geom, ids)]
            if len(pts) < 3:
                out[name] = self.last.get(name, (np.full(3, np.nan), np.array([0.0, 0.0, 1.0])))
                continue
            centre = pts.mean(axis=0)
            normal = np.array([0.0, 0.0, 1.0])
            if name in self.with_normal:
                _, _, vt = np.linalg.svd(pts - centre, full_matrices=False)
                normal = vt[-1]
                if np.dot(normal, cam_pos - centre) < 0:
                    normal = -normal
                normal[2] = 0.0
                normal /= max(np.linalg.norm(normal), 1e-9)
            out[name] = (centre, normal)
        self.last = out
        return out


class PerceivedStates:
    """An environment whose observations carry perceived object states."""

    def __init__(self, env, camera: str = PERCEPTION_CAMERA, size: int = PERCEPTION_SIZE):
        self.env = env
        self.perception = Perception(env, camera, size)

    def __getattr__(self, name):
        return getattr(self.env, name)

    def _perceive(self, obs):
        from iteach_ros.sim.env import JAW_HALF_EXTENT

        d = self.env.data
        tcp = self.env.tcp_position()
        tcp_mat = d.site_xmat[self.env.arm.site].reshape(3, 3)
        for name, (pos, normal) in self.perception.estimate().items():
            can = (name in self.env.task.graspable
                   and bool(np.all(np.abs(tcp_mat.T @ (pos - tcp)) < JAW_HALF_EXTENT)))
            # orientation is not estimated: reported as the identity
            obs.objects[name] = ObjectState(name, pos, normal,
                                            gripped=obs.objects[name].gripped,
                                            can_be_gripped=can)
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
