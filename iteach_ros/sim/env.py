"""Gymnasium-style MuJoCo environment for the LLM-iTeach tasks (ROS-free).

``reset(seed) -> (obs, info)``, ``step(action) -> (obs, reward, terminated, truncated, info)``,
``close()``. Actions are the paper's end-effector deltas in the world frame:

* ``"4d"``: (dx, dy, dz, gripper) in [-1, 1]; translation = a[:3] * 1 cm per control step,
  gripper a[3] > 0 open, < 0 close, 0 keep.
* ``"7d"``: (dx, dy, dz, droll, dpitch, dyaw, gripper); rotation = a[3:6] * ``rot_step_rad``
  about the world axes (the paper's future work).

Control runs at 20 Hz: each step moves the tool target, solves IK and interpolates the joint
servos' set-points over 25 physics substeps of 2 ms. Targets outside the workspace or beyond
the joint limits are clipped and reported as ``info["infeasible"]``; ``max_infeasible``
such steps in a row end the episode (``info["failure_reason"] = "infeasible_actions"``).
Actions with the wrong length or non-finite entries raise ``ValueError``; entries outside
[-1, 1] are clipped (``info["action_clipped"]``).
"""

from __future__ import annotations

import mujoco
import numpy as np

from iteach_ros.core import CONTROL_HZ, IMAGE_SIZE
from iteach_ros.core.perception import JAW_HALF_EXTENT
from iteach_ros.core.state import GRIPPER, ObjectState, Observation
from iteach_ros.sim.arm import TCP_SITE, ArmController
from iteach_ros.sim.base import ROTATION_STEP_RAD, TRANSLATION_STEP_M, TaskEnvBase
from iteach_ros.sim.frames import CameraIntrinsics, FrameTree, camera_intrinsics
from iteach_ros.sim.tasks import TASKS, Task, site_name

__all__ = ["ROTATION_STEP_RAD", "TRANSLATION_STEP_M", "MujocoTaskEnv", "Observation",
           "make_env"]
WRIST_CAMERA = "wrist"  # the learner's camera (panda.xml)


def _quat_xyzw(xmat: np.ndarray) -> np.ndarray:
    """Rotation matrix (flat, MuJoCo) -> quaternion [x, y, z, w], RLBench/PyRep's order."""
    wxyz = np.empty(4)
    mujoco.mju_mat2Quat(wxyz, xmat)
    return np.array([wxyz[1], wxyz[2], wxyz[3], wxyz[0]])


class MujocoTaskEnv(TaskEnvBase):
    """One task scene in MuJoCo with the paper's action space and the CodePolicy's objects."""

    def __init__(self, task: Task | str, *, seed: int | None = None, render_wrist: bool = True,
                 action_mode: str = "4d", max_steps: int | None = None,
                 image_size: int = IMAGE_SIZE, substeps: int | None = None,
                 max_infeasible: int = 10, rot_step_rad: float = ROTATION_STEP_RAD):
        if isinstance(task, str):
            if task not in TASKS:
                raise KeyError(f"unknown task {task!r}; known: {sorted(TASKS)}")
            task = TASKS[task]
        self._configure(task, action_mode=action_mode, max_steps=max_steps,
                        render_wrist=render_wrist, max_infeasible=max_infeasible)
        self.task = task
        self.image_size = image_size
        self.rot_step_rad = rot_step_rad

        self.model = mujoco.MjModel.from_xml_path(str(task.xml_path))
        self.data = mujoco.MjData(self.model)
        self.substeps = substeps or round(1.0 / (CONTROL_HZ * self.model.opt.timestep))
        self.arm = ArmController(self.model)
        self._sites = {n: self.model.site(site_name(n)).id for n in task.object_names}
        self._normal_towards = {n: (self.model.site(a).id, self.model.site(b).id)
                                for n, a, b in task.normal_towards}
        self._site_body = {n: int(self.model.site_bodyid[s]) for n, s in self._sites.items()}
        act = self.arm.act
        self._ff = -self.model.actuator_biasprm[act, 2] / self.model.actuator_gainprm[act, 0]
        self._pad_bodies = (self.model.body("left_finger").id, self.model.body("right_finger").id)
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._rng = np.random.default_rng(seed)
        self._close_steps = 0
        self._closed_latch = False
        self.start_qpos = self.data.qpos.copy()  # after reset: what relative successes compare to

    # ---- Gymnasium interface ------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        self.task.randomize(m, d, self._rng)
        self.arm.reset(d)
        mujoco.mj_forward(m, d)
        # Let resting objects settle under gravity while the arm holds its pose.
        for _ in range(50):
            mujoco.mj_step(m, d)
        d.time = 0.0
        self._close_steps = 0
        self._closed_latch = False
        self.start_qpos = d.qpos.copy()
        info = self._reset_info(self.task.success(m, d, self))
        return self._observe(), info

    def step(self, action):
        a = self._check_action(action)
        clipped_action = bool(np.any(np.abs(a) > 1.0))
        a = np.clip(a, -1.0, 1.0)
        m, d = self.model, self.data
        delta = a[:3] * TRANSLATION_STEP_M
        rot = a[3:6] * self.rot_step_rad if self.action_dim == 7 else None
        grip = a[-1]
        if grip > 0:
            self.arm.set_gripper(d, True)
        elif grip < 0:
            self.arm.set_gripper(d, False)
        q0, q1, infeasible = self.arm.plan(d, delta, rot)
        act = self.arm.act
        # Servo set-point: interpolated position plus velocity feed-forward (kv/kp * qdot),
        # so the damped servos track a moving goal without lag.
        qdot = (q1 - q0) / (self.substeps * m.opt.timestep)
        lead = self._ff * qdot
        for k in range(1, self.substeps + 1):
            d.ctrl[act] = q0 + (q1 - q0) * (k / self.substeps) + lead
            mujoco.mj_step(m, d)
        if not np.all(np.isfinite(d.qpos)):  # never expected; fail loudly rather than go on
            raise FloatingPointError("physics state became non-finite")
        self._update_gripper_state()
        success = self.task.success(m, d, self)
        terminated, truncated, info = self._end_step(success, infeasible, clipped_action)
        return self._observe(), float(success), terminated, truncated, info

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()

    # ---- observations -------------------------------------------------------------------------
    def tcp_position(self) -> np.ndarray:
        return self.arm.tcp_position(self.data)

    def gripper_closed(self) -> bool:
        """Closed = told to close, and the fingers have come to rest (on an object or on each
        other) since. Latched until the next open command, so a grasped object shifting in
        the fingers does not make the gripper look open to a CodePolicy."""
        return self._closed_latch

    def _update_gripper_state(self) -> None:
        d = self.data
        if self.arm.gripper_commanded_open(d):
            self._close_steps = 0
            self._closed_latch = False
            return
        self._close_steps += 1
        if self.arm.finger_opening(d) < 0.002 or (
                self._close_steps >= 2 and self.arm.finger_speed(d) < 0.01):
            self._closed_latch = True

    def is_gripped(self, name: str) -> bool:
        """Both finger pads touch the object while the gripper is told to close."""
        d = self.data
        if self.arm.gripper_commanded_open(d):
            return False
        body = self._site_body[name]
        touching = set()
        geom_body = self.model.geom_bodyid
        for i in range(d.ncon):
            b1, b2 = geom_body[d.contact.geom1[i]], geom_body[d.contact.geom2[i]]
            if b1 == body and b2 in self._pad_bodies:
                touching.add(b2)
            elif b2 == body and b1 in self._pad_bodies:
                touching.add(b1)
        return len(touching) == 2

    def object_states(self) -> dict[str, ObjectState]:
        """The CodePolicy's objects (fields: ``runtime.OBJECT_ATTRIBUTES``)."""
        d = self.data
        tcp = self.tcp_position()
        tcp_mat = d.site_xmat[self.arm.site].reshape(3, 3)
        closed = self.gripper_closed()
        # RLBench programs read the gripper's normal as up and 'gripped' as closed
        # (Tubicor/LLM-iTeach custom_env.py: Gripper(..., gripped=robot_gripper_closed)).
        states = {GRIPPER: ObjectState(
            GRIPPER, tcp, -tcp_mat[:, 2], gripped=closed, closed=closed,
            quaternion=_quat_xyzw(d.site_xmat[self.arm.site]),
            joint_positions=self.arm.joint_positions(d).astype(float))}
        for name, sid in self._sites.items():
            pos = d.site_xpos[sid].copy()
            normal = self._normal(name, sid)
            gripped = can = False
            if name in self.task.graspable:
                gripped = self.is_gripped(name)
                local = tcp_mat.T @ (pos - tcp)
                can = bool(np.all(np.abs(local) < JAW_HALF_EXTENT))
            states[name] = ObjectState(name, pos, normal, gripped=gripped, can_be_gripped=can,
                                       quaternion=_quat_xyzw(d.site_xmat[sid]))
        return states

    def _normal(self, name: str, sid: int) -> np.ndarray:
        pair = self._normal_towards.get(name)
        if pair is None:
            return self.data.site_xmat[sid].reshape(3, 3)[:, 2].copy()
        v = self.data.site_xpos[pair[1]] - self.data.site_xpos[pair[0]]
        v[2] = 0.0
        return v / np.linalg.norm(v)

    def _observe(self) -> Observation:
        d = self.data
        proprio = np.empty(8, dtype=np.float32)
        proprio[:7] = self.arm.joint_positions(d)
        proprio[7] = self.arm.finger_opening(d)
        wrist = self.render("wrist") if self.render_wrist else None
        return Observation(wrist_rgb=wrist, proprio=proprio, objects=self.object_states(),
                           ee_position=self.tcp_position(), step=self._step)

    def render(self, camera: str = "front", size: int | None = None) -> np.ndarray:
        """RGB image (uint8, HxWx3) from a named camera of the scene ('wrist', 'front')."""
        size = size or self.image_size
        key = (size, size)
        r = self._renderers.get(key)
        if r is None:
            r = mujoco.Renderer(self.model, size, size)
            self._renderers[key] = r
        r.update_scene(self.data, camera)
        return r.render()

    # ---- read-outs for visualisation ----------------------------------------------------------
    def frame_tree(self, cameras: tuple[str, ...] = (WRIST_CAMERA,)) -> FrameTree:
        """Every body, the tool point, the objects' sites and ``cameras`` as frames whose
        poses follow this environment's state."""
        sites = (TCP_SITE,) + tuple(site_name(n) for n in self.object_names)
        return FrameTree(self.model, self.data, sites=sites, cameras=cameras)

    def camera_intrinsics(self, camera: str = WRIST_CAMERA) -> CameraIntrinsics:
        """The pinhole model of ``render(camera)`` at this environment's image size."""
        return camera_intrinsics(self.model, camera, self.image_size, self.image_size)

    # ---- state snapshot (tests, determinism checks) -------------------------------------------
    def state_vector(self) -> np.ndarray:
        d = self.data
        return np.concatenate([d.qpos, d.qvel, d.ctrl]).copy()


def make_env(task_name: str, *, seed: int | None = None, render_wrist: bool = True,
             action_mode: str = "4d", max_steps: int | None = None, backend: str = "mujoco",
             **kw):
    """Create a task environment by name (see ``TASKS``); ``backend="rlbench"`` needs RLBench."""
    if backend == "rlbench":
        from iteach_ros.sim.rlbench_backend import RLBenchTaskEnv

        return RLBenchTaskEnv(task_name, seed=seed, render_wrist=render_wrist,
                              action_mode=action_mode, max_steps=max_steps, **kw)
    if backend != "mujoco":
        raise ValueError(f"backend must be 'mujoco' or 'rlbench', got {backend!r}")
    return MujocoTaskEnv(task_name, seed=seed, render_wrist=render_wrist,
                         action_mode=action_mode, max_steps=max_steps, **kw)
