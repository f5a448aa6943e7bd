"""Core data <-> ROS messages, in one place (nodes hold no field-by-field copying)."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, PoseArray, Quaternion, Vector3
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Header

from iteach_ros.codepolicy.runtime import GRIPPER, ObjectState
from iteach_ros.learning.arbiter import Decision
from iteach_ros.msg import Action, Feedback
from iteach_ros.msg import ObjectState as ObjectStateMsg
from iteach_ros.msg import Observation as ObservationMsg
from iteach_ros.ros.interfaces import WORLD_FRAME, WRIST_CAMERA_FRAME

PANDA_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8)) + ("panda_finger_joint",)


class MessageError(ValueError):
    """A message that cannot be turned into core data (wrong sizes, non-finite values, ...)."""


def _vec(v) -> np.ndarray:
    return np.array([v.x, v.y, v.z], dtype=float)


def object_to_msg(state: ObjectState) -> ObjectStateMsg:
    p = np.asarray(state.position, dtype=float)
    n = np.asarray(state.normal, dtype=float)
    return ObjectStateMsg(
        name=state.name,
        pose=Pose(position=Point(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                  orientation=Quaternion(w=1.0)),
        normal=Vector3(x=float(n[0]), y=float(n[1]), z=float(n[2])),
        gripped=bool(state.gripped), can_be_gripped=bool(state.can_be_gripped),
        closed=bool(state.closed))


def objects_from_msg(msg: ObservationMsg) -> dict[str, ObjectState]:
    out = {}
    for o in msg.objects:
        pos = _vec(o.pose.position)
        if not np.all(np.isfinite(pos)):
            raise MessageError(f"object {o.name!r} has a non-finite position")
        out[o.name] = ObjectState(o.name, pos, _vec(o.normal), o.gripped, o.can_be_gripped,
                                  o.closed)
    if GRIPPER not in out:
        raise MessageError("observation has no 'gripper' object")
    return out


def observation_to_msg(obs, *, stamp: Time, episode: int, task: str,
                       seed: int) -> ObservationMsg:
    """Core Observation (iteach_ros.sim) -> iteach_ros/Observation."""
    ee = np.asarray(obs.ee_position, dtype=float)
    gripper = obs.objects.get(GRIPPER)
    image = (image_to_msg(obs.wrist_rgb, stamp) if obs.wrist_rgb is not None
             else Image(header=Header(stamp=stamp, frame_id=WRIST_CAMERA_FRAME)))
    return ObservationMsg(
        header=Header(stamp=stamp, frame_id=WORLD_FRAME), episode=episode, step=obs.step,
        task=task, seed=seed, objects=[object_to_msg(s) for s in obs.objects.values()],
        joint_positions=[float(q) for q in obs.proprio[:7]],
        gripper_opening=float(obs.proprio[7]),
        gripper_closed=bool(gripper.closed) if gripper is not None else False,
        ee_position=Point(x=float(ee[0]), y=float(ee[1]), z=float(ee[2])), wrist_image=image)


def proprio_from_msg(msg: ObservationMsg) -> np.ndarray:
    """The learner's proprioception: joint positions (rad) + gripper opening (m)."""
    return np.array(list(msg.joint_positions) + [msg.gripper_opening], dtype=np.float32)


def image_to_msg(rgb: np.ndarray, stamp: Time) -> Image:
    h, w, _ = rgb.shape
    return Image(header=Header(stamp=stamp, frame_id=WRIST_CAMERA_FRAME), height=h, width=w,
                 encoding="rgb8", is_bigendian=0, step=3 * w,
                 data=np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())


def image_from_msg(msg: Image) -> np.ndarray:
    if msg.height == 0 or msg.width == 0:
        raise MessageError("no image (is the bridge rendering the wrist camera? render_wrist)")
    if msg.encoding != "rgb8" or msg.step != 3 * msg.width:
        raise MessageError(f"expected a packed rgb8 image, got {msg.encoding} step {msg.step}")
    data = np.frombuffer(msg.data, dtype=np.uint8)  # array('B') or bytes: no intermediate copy
    if data.size != msg.height * msg.width * 3:
        raise MessageError(f"image data has {data.size} bytes, expected "
                           f"{msg.height * msg.width * 3}")
    return data.reshape(msg.height, msg.width, 3).copy()  # writable, owned: torch wants it


def joint_state_msg(msg: ObservationMsg) -> JointState:
    return JointState(header=msg.header, name=list(PANDA_JOINTS),
                      position=list(msg.joint_positions) + [msg.gripper_opening / 2.0])


def object_poses_msg(msg: ObservationMsg) -> PoseArray:
    return PoseArray(header=msg.header, poses=[o.pose for o in msg.objects])


def action_msg(values, *, header: Header, episode: int, step: int, source: int,
               error: str = "") -> Action:
    return Action(header=header, episode=episode, step=step, source=source,
                  values=[float(v) for v in values], error=error)


def action_values(msg: Action) -> np.ndarray | None:
    """The action as an array, or None when the sender reported an error instead."""
    if msg.error:
        return None
    return np.asarray(msg.values, dtype=float)


def feedback_msg(decision: Decision, *, header: Header, episode: int, step: int, agent,
                 teacher, beta_deg: float) -> Feedback:
    return Feedback(header=header, episode=episode, step=step,
                    agent_action=[float(v) for v in agent],
                    teacher_action=[float(v) for v in teacher],
                    executed_action=[float(v) for v in decision.executed],
                    angle_deg=float(decision.angle_deg), beta_deg=float(beta_deg),
                    kind=int(decision.kind))


def stamp_key(stamp: Time) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec
