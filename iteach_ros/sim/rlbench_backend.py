"""RLBench backend behind the same interface as ``MujocoTaskEnv`` (for users with CoppeliaSim).

Written against RLBench's public API (``rlbench.environment.Environment``,
``MoveArmThenGripper(EndEffectorPoseViaIK(absolute_mode=False), Discrete())``) and PyRep's
object API. It is import-guarded: constructing it without RLBench/PyRep raises
``RLBenchUnavailableError`` naming what to install. It cannot be exercised on machines
without CoppeliaSim (this project's CI among them), so treat it as untested glue.

Object names: RLBench scenes name their shapes differently from the paper's API; the table
``RLBENCH_OBJECTS`` maps the paper's names to RLBench scene object names. Names differ between
RLBench versions: pass ``object_map={"button": "my_shape_name"}`` to override. An object's
``normal`` is the z axis of the scene object's pose.
"""

from __future__ import annotations

import numpy as np

from iteach_ros.codepolicy.runtime import GRIPPER, ObjectState
from iteach_ros.sim.env import ACTION_DIMS, CONTROL_HZ, ROTATION_STEP_RAD, Observation
from iteach_ros.sim.tasks import TASKS

INSTALL_HINT = (
    "The RLBench backend needs CoppeliaSim 4.1 (COPPELIASIM_ROOT set, its folder on "
    "LD_LIBRARY_PATH), PyRep (pip install git+https://github.com/stepjam/PyRep.git) and "
    "RLBench (pip install git+https://github.com/stepjam/RLBench.git). Without them use the "
    "default MuJoCo backend: make_env(task) with backend='mujoco'."
)

# paper's task name -> RLBench task class name
RLBENCH_TASKS = {
    "push_button": "PushButton",
    "close_microwave": "CloseMicrowave",
    "take_lid_off_saucepan": "TakeLidOffSaucepan",
    "unplug_charger": "UnplugCharger",
    "put_rubbish_in_bin": "PutRubbishInBin",
    "reach_target": "ReachTarget",
    "pick_and_lift": "PickAndLift",
}

# paper's object name -> RLBench scene object name (check against your RLBench version)
RLBENCH_OBJECTS = {
    "push_button": {"button": "push_button_target"},
    "close_microwave": {"microwave": "microwave_frame_resp", "microwave door": "microwave_door"},
    "take_lid_off_saucepan": {"lid": "saucepan_lid_grasp_point"},
    "unplug_charger": {"charger": "charger", "wall outlet": "plug"},
    "put_rubbish_in_bin": {"rubbish": "rubbish", "bin": "bin", "tomato1": "tomato1",
                           "tomato2": "tomato2"},
    "reach_target": {"target": "target"},
    "pick_and_lift": {"cube": "pick_and_lift_target", "target area": "pick_and_lift_success"},
}

GRASP_REACH_M = 0.03  # can_be_gripped: object within this distance of the gripper tip


class RLBenchUnavailableError(ImportError):
    """RLBench, PyRep or CoppeliaSim is missing."""


def _import_rlbench():
    try:
        from pyrep.objects.object import Object
        from rlbench import tasks as rlbench_tasks
        from rlbench.action_modes.action_mode import MoveArmThenGripper
        from rlbench.action_modes.arm_action_modes import EndEffectorPoseViaIK
        from rlbench.action_modes.gripper_action_modes import Discrete
        from rlbench.backend.exceptions import InvalidActionError
        from rlbench.environment import Environment
        from rlbench.observation_config import ObservationConfig
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RLBenchUnavailableError(f"{INSTALL_HINT} (import failed: {exc})") from exc
    return {
        "Object": Object, "tasks": rlbench_tasks, "MoveArmThenGripper": MoveArmThenGripper,
        "EndEffectorPoseViaIK": EndEffectorPoseViaIK, "Discrete": Discrete,
        "InvalidActionError": InvalidActionError, "Environment": Environment,
        "ObservationConfig": ObservationConfig,
    }


def _euler_to_quat_xyzw(rpy: np.ndarray) -> np.ndarray:
    r, p, y = rpy / 2.0
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array([sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
                     cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy])


class RLBenchTaskEnv:  # pragma: no cover - needs CoppeliaSim
    """The paper's tasks in RLBench, with MujocoTaskEnv's reset/step/close and observations."""

    def __init__(self, task_name: str, *, seed: int | None = None, render_wrist: bool = True,
                 action_mode: str = "4d", max_steps: int | None = None, headless: bool = True,
                 object_map: dict[str, str] | None = None, max_infeasible: int = 10,
                 image_size: int = 128):
        if task_name not in RLBENCH_TASKS:
            raise KeyError(f"unknown task {task_name!r}; known: {sorted(RLBENCH_TASKS)}")
        if action_mode not in ACTION_DIMS:
            raise ValueError(f"action_mode must be one of {sorted(ACTION_DIMS)}")
        rl = _import_rlbench()
        self._rl = rl
        spec = TASKS[task_name]
        self.task_name = task_name
        self.description = spec.description
        self.object_names = spec.object_names
        self.max_steps = int(max_steps or spec.max_steps)
        self.action_mode = action_mode
        self.action_dim = ACTION_DIMS[action_mode]
        self.control_hz = CONTROL_HZ
        self.render_wrist = render_wrist
        self.max_infeasible = max_infeasible
        self._names = {**RLBENCH_OBJECTS[task_name], **(object_map or {})}
        self._seed = seed

        obs_config = rl["ObservationConfig"]()
        obs_config.set_all(False)
        obs_config.joint_positions = True
        obs_config.gripper_open = True
        obs_config.gripper_joint_positions = True
        obs_config.gripper_pose = True
        obs_config.wrist_camera.rgb = render_wrist
        obs_config.wrist_camera.image_size = (image_size, image_size)
        arm = rl["EndEffectorPoseViaIK"](absolute_mode=False)
        mode = rl["MoveArmThenGripper"](arm_action_mode=arm, gripper_action_mode=rl["Discrete"]())
        self._env = rl["Environment"](mode, obs_config=obs_config, headless=headless)
        self._env.launch()
        self._task = self._env.get_task(getattr(rl["tasks"], RLBENCH_TASKS[task_name]))
        self._initial: dict[str, np.ndarray] = {}
        self._step = 0
        self._infeasible_run = 0
        self._gripper_open = 1.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        seed = self._seed if seed is None else seed
        if seed is not None:
            np.random.seed(seed)  # RLBench samples its scenes with numpy's global generator
        _, obs = self._task.reset()
        self._step = 0
        self._infeasible_run = 0
        self._gripper_open = float(obs.gripper_open)
        info = {"success": False, "infeasible": False, "step": 0, "task": self.task_name}
        return self._observe(obs), info

    def step(self, action):
        a = np.asarray(action, dtype=float).reshape(-1)
        if a.shape != (self.action_dim,):
            raise ValueError(f"action must have {self.action_dim} entries, got {np.shape(action)}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action has non-finite entries: {a.tolist()}")
        clipped = bool(np.any(np.abs(a) > 1.0))
        a = np.clip(a, -1.0, 1.0)
        rot = a[3:6] * ROTATION_STEP_RAD if self.action_dim == 7 else np.zeros(3)
        if a[-1] != 0:
            self._gripper_open = 1.0 if a[-1] > 0 else 0.0
        rl_action = np.concatenate([a[:3] * 0.01, _euler_to_quat_xyzw(rot),
                                    [self._gripper_open]])
        infeasible = False
        try:
            obs, reward, terminated = self._task.step(rl_action)
        except self._rl["InvalidActionError"]:
            infeasible = True
            hold = np.concatenate([np.zeros(3), [0.0, 0.0, 0.0, 1.0], [self._gripper_open]])
            obs, reward, terminated = self._task.step(hold)
        self._step += 1
        self._infeasible_run = self._infeasible_run + 1 if infeasible else 0
        success = bool(reward > 0)
        info = {"success": success, "infeasible": infeasible, "action_clipped": clipped,
                "step": self._step, "task": self.task_name}
        terminated = bool(terminated or success)
        if not success and self._infeasible_run >= self.max_infeasible:
            terminated = True
            info["failure_reason"] = "infeasible_actions"
        truncated = not terminated and self._step >= self.max_steps
        if truncated:
            info["failure_reason"] = "step_limit"
        return self._observe(obs), float(success), terminated, truncated, info

    def close(self) -> None:
        self._env.shutdown()

    def _observe(self, obs) -> Observation:
        tip = np.asarray(obs.gripper_pose[:3], dtype=float)
        grasped = {o.get_name() for o in self._env._robot.gripper.get_grasped_objects()}
        closed = float(obs.gripper_open) < 0.5
        objects = {GRIPPER: ObjectState(GRIPPER, tip, np.array([0.0, 0.0, -1.0]), closed=closed)}
        for name in self.object_names:
            obj = self._rl["Object"].get_object(self._names[name])
            pos = np.asarray(obj.get_position(), dtype=float)
            normal = np.asarray(obj.get_matrix()[:3, 2], dtype=float)
            objects[name] = ObjectState(
                name, pos, normal, gripped=obj.get_name() in grasped,
                can_be_gripped=bool(np.linalg.norm(pos - tip) < GRASP_REACH_M))
        proprio = np.empty(8, dtype=np.float32)
        proprio[:7] = obs.joint_positions
        proprio[7] = float(np.sum(obs.gripper_joint_positions))  # finger opening (m)
        wrist = obs.wrist_rgb if self.render_wrist else None
        return Observation(wrist_rgb=wrist, proprio=proprio, objects=objects, ee_position=tip,
                           step=self._step)
