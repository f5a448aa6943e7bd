"""The scene's kinematic tree and visual geometry read out of a MuJoCo model (ROS-free).

What a visualiser needs and nothing else: every body as a frame under its parent body, chosen
sites and cameras as frames fixed to their bodies, which frames move during an episode (bodies
with joints), the joints (kind, axis, limits) and the visible primitives of each body. Poses are
read from the simulation state, relative to the parent frame, as position + quaternion
[x, y, z, w]. Names are MuJoCo's: naming frames for ROS is the ROS layer's business.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

WORLD_BODY = "world"  # MuJoCo's name for body 0
VISIBLE_GROUPS = (0, 1, 2)  # geom groups MuJoCo's viewer shows by default
_GEOM_KINDS = {mujoco.mjtGeom.mjGEOM_PLANE: "plane", mujoco.mjtGeom.mjGEOM_SPHERE: "sphere",
               mujoco.mjtGeom.mjGEOM_CAPSULE: "capsule", mujoco.mjtGeom.mjGEOM_ELLIPSOID:
               "ellipsoid", mujoco.mjtGeom.mjGEOM_CYLINDER: "cylinder",
               mujoco.mjtGeom.mjGEOM_BOX: "box", mujoco.mjtGeom.mjGEOM_MESH: "mesh"}
_JOINT_KINDS = {mujoco.mjtJoint.mjJNT_FREE: "free", mujoco.mjtJoint.mjJNT_BALL: "ball",
                mujoco.mjtJoint.mjJNT_SLIDE: "slide", mujoco.mjtJoint.mjJNT_HINGE: "hinge"}


# MuJoCo camera axes (x right, y up, looking along -z) -> optical (x right, y down, z forward):
# a half turn about x.
OPTICAL_FROM_MUJOCO_CAMERA = np.array([1.0, 0.0, 0.0, 0.0])  # [x, y, z, w]


def wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    return np.asarray(q, dtype=float)[..., [1, 2, 3, 0]]


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of [x, y, z, w] quaternions, broadcast over leading axes."""
    ax, ay, az, aw = np.moveaxis(np.asarray(a, dtype=float), -1, 0)
    bx, by, bz, bw = np.moveaxis(np.asarray(b, dtype=float), -1, 0)
    return np.stack([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz], axis=-1)


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    return np.asarray(q, dtype=float) * np.array([-1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Geom:
    kind: str  # "box", "sphere", "cylinder", "capsule", "ellipsoid", "plane", "mesh"
    size: tuple[float, float, float]  # MuJoCo's: half-extents; radius, half-length; ...
    position: tuple[float, float, float]  # in the body's frame, metres
    quaternion: tuple[float, float, float, float]  # [x, y, z, w], in the body's frame
    rgba: tuple[float, float, float, float]


@dataclass(frozen=True)
class Joint:
    name: str
    kind: str  # "hinge", "slide", "ball", "free"
    axis: tuple[float, float, float]  # in the body's frame (hinge, slide)
    anchor: tuple[float, float, float]  # the joint's position in the body's frame
    limits: tuple[float, float] | None  # rad or metres; None when unlimited
    reference: float = 0.0  # the joint position at which the body is at its offset pose
    # (joint, multiplier, offset): an equality constraint makes this joint follow another,
    # q = multiplier * q_joint + offset
    mimic: tuple[str, float, float] | None = None
    effort: float = 0.0  # force/torque limit of the actuator driving it (0: none or unlimited)


@dataclass(frozen=True)
class Frame:
    name: str  # the MuJoCo body, site or camera name
    kind: str  # "body", "site" or "camera"
    parent: str  # the parent body's name ("" for the world body)
    moving: bool  # its pose relative to the parent changes while the simulation runs
    # pose relative to the parent with every joint at its reference (the model's, at load)
    offset_position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    offset_quaternion: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)  # [x, y, z, w]
    joints: tuple[Joint, ...] = ()
    geoms: tuple[Geom, ...] = ()  # visible geometry attached to this frame (bodies only)


class FrameTree:
    """The frames of one model: all bodies, plus the named sites and cameras.

    ``relative_poses(indices)`` reads the current poses of ``frames[i]`` relative to their
    parents from ``data``; it allocates nothing per frame, so it can run every control step.
    """

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, *, sites=(), cameras=()):
        self.model, self.data = model, data
        frames, ids = [], []
        for b in range(model.nbody):
            parent = int(model.body_parentid[b])
            joints = tuple(self._joint(j) for j in range(model.body_jntadr[b],
                                                         model.body_jntadr[b]
                                                         + model.body_jntnum[b]))
            moving = bool(joints) or int(model.body_mocapid[b]) >= 0
            frames.append(Frame(model.body(b).name, "body",
                                model.body(parent).name if b else "", moving,
                                *_offset(model.body_pos[b], model.body_quat[b]), joints,
                                self._geoms(b)))
            ids.append(("body", b, parent))
        for name in sites:
            s = model.site(name).id
            parent = int(model.site_bodyid[s])
            frames.append(Frame(name, "site", model.body(parent).name, False,
                                *_offset(model.site_pos[s], model.site_quat[s])))
            ids.append(("site", s, parent))
        for name in cameras:
            c = model.camera(name).id
            parent = int(model.cam_bodyid[c])
            frames.append(Frame(name, "camera", model.body(parent).name, False,
                                *_offset(model.cam_pos[c], model.cam_quat[c])))
            ids.append(("camera", c, parent))
        self.frames: tuple[Frame, ...] = tuple(frames)
        self._kind = [k for k, _, _ in ids]
        self._id = np.array([i for _, i, _ in ids])
        self._parent = np.array([p for _, _, p in ids])
        self._plans: dict[tuple[int, ...], tuple] = {}

    def index(self, name: str, kind: str = "body") -> int:
        for i, f in enumerate(self.frames):
            if f.name == name and f.kind == kind:
                return i
        raise KeyError(f"no {kind} frame named {name!r}")

    def subtree(self, root: str) -> set[str]:
        """Names of the body ``root`` and every body below it."""
        out, grew = {root}, True
        while grew:
            grew = False
            for f in self.frames:
                if f.kind == "body" and f.parent in out and f.name not in out:
                    out.add(f.name)
                    grew = True
        return out

    def relative_poses(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """(positions (n, 3), quaternions [x, y, z, w] (n, 4)) of the frames at ``indices``,
        each relative to its parent body's frame, in the current simulation state."""
        key = tuple(int(i) for i in indices)
        plan = self._plans.get(key)
        if plan is None:  # which rows are bodies, sites, cameras: worked out once per index set
            idx = np.array(key, dtype=int)
            plan = self._plans[key] = (idx, [(kind, np.flatnonzero(
                np.array([self._kind[i] == kind for i in key], dtype=bool)))
                for kind in ("body", "site", "camera")], self._parent[idx])
        idx, groups, parent = plan
        d = self.data
        pos, quat = np.empty((len(idx), 3)), np.empty((len(idx), 4))
        for kind, rows in groups:
            if not rows.size:
                continue
            own = self._id[idx[rows]]
            if kind == "body":
                pos[rows], quat[rows] = d.xpos[own], wxyz_to_xyzw(d.xquat[own])
            else:
                xpos = d.site_xpos if kind == "site" else d.cam_xpos
                xmat = d.site_xmat if kind == "site" else d.cam_xmat
                pos[rows] = xpos[own]
                quat[rows] = [self._mat_quat(m) for m in xmat[own]]
        parent_rot = d.xmat[parent].reshape(-1, 3, 3)
        rel_pos = np.einsum("nji,nj->ni", parent_rot, pos - d.xpos[parent])  # R_p^T (p - p_p)
        rel_quat = quat_multiply(quat_conjugate(wxyz_to_xyzw(d.xquat[parent])), quat)
        # Body 0 is its own parent: the world frame relative to itself is the identity.
        return rel_pos, rel_quat / np.linalg.norm(rel_quat, axis=1, keepdims=True)

    @staticmethod
    def _mat_quat(xmat: np.ndarray) -> np.ndarray:
        wxyz = np.empty(4)
        mujoco.mju_mat2Quat(wxyz, xmat)
        return wxyz_to_xyzw(wxyz)

    def _joint(self, j: int) -> Joint:
        m = self.model
        limited = bool(m.jnt_limited[j])
        kind = _JOINT_KINDS[int(m.jnt_type[j])]
        reference = float(m.qpos0[m.jnt_qposadr[j]]) if kind in ("hinge", "slide") else 0.0
        return Joint(m.joint(j).name, kind, tuple(float(v) for v in m.jnt_axis[j]),
                     tuple(float(v) for v in m.jnt_pos[j]),
                     tuple(float(v) for v in m.jnt_range[j]) if limited else None,
                     reference, self._mimic(j), self._effort(j))

    def _effort(self, j: int) -> float:
        m = self.model
        for a in range(m.nu):
            if (int(m.actuator_trntype[a]) == int(mujoco.mjtTrn.mjTRN_JOINT)
                    and int(m.actuator_trnid[a, 0]) == j and m.actuator_forcelimited[a]):
                return float(np.max(np.abs(m.actuator_forcerange[a])))
        return 0.0

    def _mimic(self, j: int) -> tuple[str, float, float] | None:
        """A linear joint equality q_j = a0 + a1 q_other (MuJoCo: eq joint1=j, joint2=other;
        references zero) as (other, a1, a0)."""
        m = self.model
        for e in range(m.neq):
            if int(m.eq_type[e]) != int(mujoco.mjtEq.mjEQ_JOINT) or int(m.eq_obj1id[e]) != j:
                continue
            other = int(m.eq_obj2id[e])
            coef = m.eq_data[e, :5]
            if other >= 0 and not np.any(coef[2:]):
                return m.joint(other).name, float(coef[1]), float(coef[0])
        return None

    def _geoms(self, b: int) -> tuple[Geom, ...]:
        m = self.model
        out = []
        for g in range(m.body_geomadr[b], m.body_geomadr[b] + m.body_geomnum[b]):
            if m.geom_group[g] not in VISIBLE_GROUPS:
                continue
            mat = int(m.geom_matid[g])
            rgba = m.mat_rgba[mat] if mat >= 0 else m.geom_rgba[g]
            if rgba[3] <= 0.0:
                continue
            out.append(Geom(_GEOM_KINDS.get(int(m.geom_type[g]), "unsupported"),
                            tuple(float(v) for v in m.geom_size[g]),
                            tuple(float(v) for v in m.geom_pos[g]),
                            tuple(float(v) for v in wxyz_to_xyzw(m.geom_quat[g])),
                            tuple(float(v) for v in rgba)))
        return tuple(out)


def _offset(pos, quat_wxyz) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return tuple(float(v) for v in pos), tuple(float(v) for v in wxyz_to_xyzw(quat_wxyz))


@dataclass(frozen=True)
class CameraIntrinsics:
    """A pinhole camera as ROS's CameraInfo states it: pixel centres at integer coordinates,
    the optical axis through the image centre, square pixels, no distortion."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float


def camera_intrinsics(model: mujoco.MjModel, camera: str, width: int,
                      height: int) -> CameraIntrinsics:
    """Intrinsics of a perspective MuJoCo camera rendered at ``width`` x ``height``."""
    c = model.camera(camera).id
    if int(model.cam_projection[c]) != int(mujoco.mjtProjection.mjPROJ_PERSPECTIVE):
        raise ValueError(f"camera {camera!r} is not a perspective camera")
    if np.any(model.cam_sensorsize[c] > 0):
        raise ValueError(f"camera {camera!r} is defined by sensor size and focal length; "
                         f"only fovy cameras are supported")
    # MuJoCo's fovy is the vertical field of view; pixels are square.
    f = 0.5 * height / np.tan(np.deg2rad(model.cam_fovy[c]) / 2.0)
    return CameraIntrinsics(width, height, float(f), float(f), (width - 1) / 2.0,
                            (height - 1) / 2.0)
