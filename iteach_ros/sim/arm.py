"""End-effector control of the Panda: damped-least-squares IK onto joint position servos.

Why this design (and not a mocap body welded to the hand): the IK works in joint space, so the
Panda's joint limits are real limits, an unreachable target shows up as an IK residual (the
action is then clipped and reported as infeasible), and the arm pushes on doors and buttons
through its joint servos with the Panda's torque limits. Each control step moves the Cartesian
target by at most 1 cm; the joint-space goal is interpolated linearly over the physics substeps,
so the hand moves smoothly and grasped objects stay in the fingers (a 1 cm jump in one substep
jerks the hand and drops what it holds: docs/benchmarks.md).

The target is kept within ``windup_m`` of the measured tool point: when the hand is blocked
(a pressed button, a closed door) the servos push, but the goal does not run away.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from iteach_ros.core import FINGER_OPEN_M

ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
ARM_ACTUATORS = tuple(f"act{i}" for i in range(1, 8))
FINGER_JOINTS = ("finger_joint1", "finger_joint2")
GRIPPER_ACTUATOR = "gripper"
TCP_SITE = "tcp"
ARM_BASE_BODY = "link0"  # the arm's root body: it and every body below it are the robot
# Franka "ready" pose: hand pointing down, fingers closing along the world y axis.
HOME_QPOS = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
FINGER_OPEN = FINGER_OPEN_M  # per finger, metres


@dataclass(frozen=True)
class Workspace:
    """Axis-aligned box the tool point may be commanded into (world frame, metres)."""

    low: tuple[float, float, float] = (0.12, -0.55, 0.012)
    high: tuple[float, float, float] = (0.85, 0.55, 0.75)

    def clip(self, p: np.ndarray) -> tuple[np.ndarray, bool]:
        q = np.clip(p, self.low, self.high)
        return q, bool(np.any(np.abs(q - p) > 1e-9))


@dataclass
class IKResult:
    qpos: np.ndarray
    pos_error: float
    rot_error: float
    converged: bool


def _rot_error(target_quat: np.ndarray, xmat: np.ndarray) -> np.ndarray:
    """World-frame rotation vector taking the current orientation to the target."""
    cur = np.empty(4)
    mujoco.mju_mat2Quat(cur, xmat)
    neg = np.empty(4)
    mujoco.mju_negQuat(neg, cur)
    dq = np.empty(4)
    mujoco.mju_mulQuat(dq, target_quat, neg)
    err = np.empty(3)
    mujoco.mju_quat2Vel(err, dq, 1.0)
    return err


class ArmController:
    """IK and servo set-points for the Panda in one MuJoCo model (looked up by name)."""

    def __init__(self, model: mujoco.MjModel, *, damping: float = 0.03,
                 ik_iterations: int = 12, tol_m: float = 5e-4, infeasible_m: float = 4e-3,
                 infeasible_rad: float = 0.05, windup_m: float = 0.02,
                 workspace: Workspace | None = None):
        self.model = model
        self.scratch = mujoco.MjData(model)  # IK runs here, never on the simulated state
        self.qadr = np.array([model.joint(n).qposadr[0] for n in ARM_JOINTS])
        self.dadr = np.array([model.joint(n).dofadr[0] for n in ARM_JOINTS])
        self.finger_qadr = np.array([model.joint(n).qposadr[0] for n in FINGER_JOINTS])
        self.finger_dadr = np.array([model.joint(n).dofadr[0] for n in FINGER_JOINTS])
        self.act = np.array([model.actuator(n).id for n in ARM_ACTUATORS])
        self.grip_act = model.actuator(GRIPPER_ACTUATOR).id
        self.site = model.site(TCP_SITE).id
        ranges = np.array([model.joint(n).range for n in ARM_JOINTS])
        margin = 0.01
        self.q_low = ranges[:, 0] + margin
        self.q_high = ranges[:, 1] - margin
        self.damping = damping
        self.ik_iterations = ik_iterations
        self.tol_m = tol_m
        self.infeasible_m = infeasible_m
        self.infeasible_rad = infeasible_rad
        self.windup_m = windup_m
        self.workspace = workspace or Workspace()
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        # Commanded state (set by reset()).
        self.q_cmd = HOME_QPOS.copy()
        self.target_pos = np.zeros(3)
        self.target_quat = np.array([1.0, 0.0, 0.0, 0.0])

    # ---- kinematics -------------------------------------------------------------------------
    def fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.scratch
        d.qpos[self.qadr] = q
        mujoco.mj_kinematics(self.model, d)
        return d.site_xpos[self.site].copy(), d.site_xmat[self.site].copy()

    def solve_ik(self, q0: np.ndarray, pos: np.ndarray, quat: np.ndarray) -> IKResult:
        """DLS IK from ``q0`` to a tool pose, joint limits enforced at every iteration."""
        m, d = self.model, self.scratch
        q = q0.copy()
        lam2 = self.damping ** 2
        for _ in range(self.ik_iterations):
            d.qpos[self.qadr] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            e_pos = pos - d.site_xpos[self.site]
            e_rot = _rot_error(quat, d.site_xmat[self.site])
            if np.linalg.norm(e_pos) < self.tol_m and np.linalg.norm(e_rot) < 1e-3:
                break
            mujoco.mj_jacSite(m, d, self._jacp, self._jacr, self.site)
            jac = np.vstack([self._jacp[:, self.dadr], self._jacr[:, self.dadr]])
            err = np.concatenate([e_pos, e_rot])
            jjt = jac @ jac.T + lam2 * np.eye(6)
            dq = jac.T @ np.linalg.solve(jjt, err)
            # Null-space pull towards the ready pose keeps the elbow where it belongs.
            null = np.eye(7) - np.linalg.pinv(jac) @ jac
            dq += null @ (0.05 * (HOME_QPOS - q))
            q = np.clip(q + dq, self.q_low, self.q_high)
        d.qpos[self.qadr] = q
        mujoco.mj_kinematics(m, d)
        pos_err = float(np.linalg.norm(pos - d.site_xpos[self.site]))
        rot_err = float(np.linalg.norm(_rot_error(quat, d.site_xmat[self.site])))
        ok = pos_err < self.infeasible_m and rot_err < self.infeasible_rad
        return IKResult(q, pos_err, rot_err, ok)

    # ---- episode state ------------------------------------------------------------------------
    def reset(self, data: mujoco.MjData, q: np.ndarray = HOME_QPOS) -> None:
        data.qpos[self.qadr] = q
        data.qvel[self.dadr] = 0.0
        data.qpos[self.finger_qadr] = FINGER_OPEN
        data.qvel[self.finger_dadr] = 0.0
        data.ctrl[self.act] = q
        data.ctrl[self.grip_act] = FINGER_OPEN
        self.q_cmd = np.array(q, dtype=float)
        pos, mat = self.fk(self.q_cmd)
        self.target_pos = pos
        self.target_quat = np.empty(4)
        mujoco.mju_mat2Quat(self.target_quat, mat)

    def tcp_position(self, data: mujoco.MjData) -> np.ndarray:
        return data.site_xpos[self.site].copy()

    def plan(self, data: mujoco.MjData, delta_pos: np.ndarray,
             delta_rot: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
        """New joint goal for one control step; returns (q_start, q_goal, infeasible)."""
        tcp = self.tcp_position(data)
        lead = self.target_pos + delta_pos - tcp
        n = np.linalg.norm(lead)
        if n > self.windup_m:  # anti wind-up: the goal stays near the real hand
            lead *= self.windup_m / n
        pos, clipped = self.workspace.clip(tcp + lead)
        quat = self.target_quat.copy()
        if delta_rot is not None and np.any(delta_rot):
            rq = np.empty(4)
            mujoco.mju_axisAngle2Quat(rq, delta_rot / np.linalg.norm(delta_rot),
                                      float(np.linalg.norm(delta_rot)))
            mujoco.mju_mulQuat(quat, rq, self.target_quat)  # world-frame rotation
            mujoco.mju_normalize4(quat)
        res = self.solve_ik(self.q_cmd, pos, quat)
        q_start = self.q_cmd.copy()
        if res.converged:
            self.target_pos, self.target_quat = pos, quat
        else:
            # Clip to what the arm can reach: keep the best joint solution, re-anchor the
            # Cartesian target there (its orientation part unchanged unless it was the problem).
            reached, mat = self.fk(res.qpos)
            self.target_pos = reached
            if res.rot_error >= self.infeasible_rad:
                mujoco.mju_mat2Quat(self.target_quat, mat)
        self.q_cmd = res.qpos
        return q_start, res.qpos.copy(), clipped or not res.converged

    def set_gripper(self, data: mujoco.MjData, open_gripper: bool) -> None:
        data.ctrl[self.grip_act] = FINGER_OPEN if open_gripper else 0.0

    def gripper_commanded_open(self, data: mujoco.MjData) -> bool:
        return bool(data.ctrl[self.grip_act] > 0.5 * FINGER_OPEN)

    def finger_opening(self, data: mujoco.MjData) -> float:
        """Distance between the finger pads' inner faces (metres, 0 .. 0.08)."""
        return float(np.sum(data.qpos[self.finger_qadr]))

    def finger_speed(self, data: mujoco.MjData) -> float:
        return float(np.max(np.abs(data.qvel[self.finger_dadr])))

    def joint_positions(self, data: mujoco.MjData) -> np.ndarray:
        return data.qpos[self.qadr].copy()
