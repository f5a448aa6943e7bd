"""RLBench backend behind the same interface as ``MujocoTaskEnv`` (for users with CoppeliaSim).

Written against RLBench's public API (``rlbench.environment.Environment``,
``MoveArmThenGripper(EndEffectorPoseViaIK(absolute_mode=False), Discrete())``) and PyRep's
object API. It is import-guarded: constructing it without RLBench/PyRep raises
``RLBenchUnavailableError`` naming what to install. It cannot be exercised on machines
without CoppeliaSim (this project's CI among them), so treat it as untested glue.

Object names: RLBench scenes name their shapes differently from the paper's API; the table
``RLBENCH_OBJECTS`` maps the paper's names to the RLBench scene objects the paper's RLBench code
reads (Tubicor/LLM-iTeach, Architecture/src/custom_env.py; task waypoints for the door, the bin
and the target area). Names differ between RLBench versions: pass
``object_map={"button": "my_shape_name"}`` to override. Normals as that code computes them
(``RLBENCH_NORMALS``; [0, 0, 1] for the other objects), the gripper's as in the MuJoCo backend
(fingertips to wrist); ``gripped`` of the gripper is its ``closed``.
"""

from __future__ import annotations

import numpy as np

from iteach_ros.core.state import GRIPPER, ObjectState, Observation
from iteach_ros.core.tasks import task_info
from iteach_ros.sim.base import ROTATION_STEP_RAD, TRANSLATION_STEP_M, TaskEnvBase

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
    "close_microwave": {"microwave": "microwave_frame_resp", "microwave door": "waypoint0"},
    "take_lid_off_saucepan": {"lid": "saucepan_lid_grasp_point"},
    "unplug_charger": {"charger": "charger", "wall outlet": "plug"},
    "put_rubbish_in_bin": {"rubbish": "rubbish", "bin": "waypoint3", "tomato1": "tomato1",
                           "tomato2": "tomato2"},
    "reach_target": {"target": "target"},
    "pick_and_lift": {"cube": "pick_and_lift_target", "target area": "waypoint3"},
}
# The paper's points that are not the object's origin (custom_env.py: the button's top)
RLBENCH_OFFSETS = {"push_button": {"button": np.array([0.0, 0.0, 0.02])}}
# task -> (from, to, horizontal): every object's normal is the unit vector from one scene
# object to the other (custom_env.py: microwave_normal, charger_normal)
RLBENCH_NORMALS = {
    "close_microwave": ("microwave_frame_resp", "waypoint0", True),
    "unplug_charger": ("charger", "waypoint1", False),
}
GRIPPER_CLOSED_BELOW = 0.9  # open amount (custom_env.py: ~0.75 when closed on the lid)
GRASP_REACH_M = 0.03  # can_be_gripped without the gripper's proximity sensor: tip distance


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


class RLBenchTaskEnv(TaskEnvBase):  # pragma: no cover - needs CoppeliaSim
    """The paper's tasks in RLBench, with MujocoTaskEnv's reset/step/close and observations."""

    def __init__(self, task_name: str, *, seed: int | None = None, render_wrist: bool = True,
                 action_mode: str = "4d", max_steps: int | None = None, headless: bool = True,
                 object_map: dict[str, str] | None = None, max_infeasible: int = 10,
                 image_size: int = 128):
        if task_name not in RLBENCH_TASKS:
            raise KeyError(f"unknown task {task_name!r}; known: {sorted(RLBENCH_TASKS)}")
        self._configure(task_info(task_name), action_mode=action_mode, max_steps=max_steps,
                        render_wrist=render_wrist, max_infeasible=max_infeasible)
        rl = _import_rlbench()
        self._rl = rl
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
        self._gripper_open = 1.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        seed = self._seed if seed is None else seed
        if seed is not None:
            np.random.seed(seed)  # RLBench samples its scenes with numpy's global generator
        _, obs = self._task.reset()
        self._gripper_open = float(obs.gripper_open)
        info = self._reset_info()
        return self._observe(obs), info

    def step(self, action):
        a = self._check_action(action)
        clipped = bool(np.any(np.abs(a) > 1.0))
        a = np.clip(a, -1.0, 1.0)
        rot = a[3:6] * ROTATION_STEP_RAD if self.action_dim == 7 else np.zeros(3)
        if a[-1] != 0:
            self._gripper_open = 1.0 if a[-1] > 0 else 0.0
        rl_action = np.concatenate([a[:3] * TRANSLATION_STEP_M, _euler_to_quat_xyzw(rot),
                                    [self._gripper_open]])
        infeasible = False
        try:
            obs, reward, terminated = self._task.step(rl_action)
        except self._rl["InvalidActionError"]:
            infeasible = True
            hold = np.concatenate([np.zeros(3), [0.0, 0.0, 0.0, 1.0], [self._gripper_open]])
            obs, reward, terminated = self._task.step(hold)
        success = bool(reward > 0)
        terminated, truncated, info = self._end_step(success, infeasible, clipped, terminated)
        return self._observe(obs), float(success), terminated, truncated, info

    def close(self) -> None:
        self._env.shutdown()

    def _normal(self) -> np.ndarray:
        spec = RLBENCH_NORMALS.get(self.task_name)
        if spec is None:
            return np.array([0.0, 0.0, 1.0])
        get = self._rl["Object"].get_object
        v = (np.asarray(get(spec[1]).get_position(), dtype=float)
             - np.asarray(get(spec[0]).get_position(), dtype=float))
        if spec[2]:
            v[2] = 0.0
        return v / np.linalg.norm(v)

    def _observe(self, obs) -> Observation:
        robot = self._env._robot
        tip = np.asarray(obs.gripper_pose[:3], dtype=float)
        tip_quat = np.asarray(obs.gripper_pose[3:7], dtype=float)  # PyRep: [x, y, z, w]
        grasped = {o.get_name() for o in robot.gripper.get_grasped_objects()}
        closed = float(robot.gripper.get_open_amount()[0]) < GRIPPER_CLOSED_BELOW
        x, y, z, w = tip_quat
        tip_z = np.array([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)])
        objects = {GRIPPER: ObjectState(
            GRIPPER, tip, -tip_z, gripped=closed, closed=closed, quaternion=tip_quat,
            joint_positions=np.asarray(obs.joint_positions, dtype=float))}
        sensor = getattr(robot.gripper, "_proximity_sensor", None)
        normal = self._normal()
        offsets = RLBENCH_OFFSETS.get(self.task_name, {})
        for name in self.object_names:
            obj = self._rl["Object"].get_object(self._names[name])
            pos = np.asarray(obj.get_position(), dtype=float) + offsets.get(name, 0.0)
            can = (bool(sensor.is_detected(obj)) if sensor is not None
                   else bool(np.linalg.norm(pos - tip) < GRASP_REACH_M))
            objects[name] = ObjectState(
                name, pos, normal.copy(), gripped=obj.get_name() in grasped,
                can_be_gripped=can, quaternion=np.asarray(obj.get_quaternion(), dtype=float))
        proprio = np.empty(8, dtype=np.float32)
        proprio[:7] = obs.joint_positions
        proprio[7] = float(np.sum(obs.gripper_joint_positions))  # finger opening (m)
        wrist = obs.wrist_rgb if self.render_wrist else None
        return Observation(wrist_rgb=wrist, proprio=proprio, objects=objects, ee_position=tip,
                           step=self._step)
