"""Core data <-> ROS messages, in one place (nodes hold no field-by-field copying)."""

from __future__ import annotations

import struct

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import (
    Point,
    Pose,
    PoseArray,
    Quaternion,
    Transform,
    TransformStamped,
    Vector3,
)
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from iteach_ros.core.state import GRIPPER, ObjectState
from iteach_ros.interaction.labels import StepLabel
from iteach_ros.msg import Action, Feedback, ObjectStateArray
from iteach_ros.msg import ObjectState as ObjectStateMsg
from iteach_ros.msg import Observation as ObservationMsg
from iteach_ros.ros.interfaces import WORLD_FRAME, WRIST_CAMERA_FRAME

# As the robot description names them (robot_description.robot_urdf): the second finger mimics
# the first.
PANDA_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8)) + ("panda_finger_joint1",)


class MessageError(ValueError):
    """A message that cannot be turned into core data (wrong sizes, non-finite values, ...)."""


def _vec(v) -> np.ndarray:
    return np.array([v.x, v.y, v.z], dtype=float)


def object_to_msg(state: ObjectState) -> ObjectStateMsg:
    p = np.asarray(state.position, dtype=float)
    n = np.asarray(state.normal, dtype=float)
    q = np.asarray(state.quaternion, dtype=float)  # [x, y, z, w], as geometry_msgs orders it
    return ObjectStateMsg(
        name=state.name,
        pose=Pose(position=Point(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                  orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]),
                                         w=float(q[3]))),
        normal=Vector3(x=float(n[0]), y=float(n[1]), z=float(n[2])),
        gripped=bool(state.gripped), can_be_gripped=bool(state.can_be_gripped),
        closed=bool(state.closed))


def objects_from_msg(msg: ObservationMsg) -> dict[str, ObjectState]:
    """The objects of an observation; the gripper's joint positions are the message's."""
    out = {}
    for o in msg.objects:
        pos = _vec(o.pose.position)
        if not np.all(np.isfinite(pos)):
            raise MessageError(f"object {o.name!r} has a non-finite position")
        q = o.pose.orientation
        out[o.name] = ObjectState(o.name, pos, _vec(o.normal), o.gripped, o.can_be_gripped,
                                  o.closed, quaternion=np.array([q.x, q.y, q.z, q.w]))
    if GRIPPER not in out:
        raise MessageError("observation has no 'gripper' object")
    out[GRIPPER].joint_positions = np.array(msg.joint_positions, dtype=float)
    return out


def observation_to_msg(obs, *, stamp: Time, episode: int, task: str, seed: int,
                       evaluation: bool = False, run_id: int = 0) -> ObservationMsg:
    """Core Observation (iteach_ros.sim) -> iteach_ros/Observation."""
    ee = np.asarray(obs.ee_position, dtype=float)
    gripper = obs.objects.get(GRIPPER)
    image = (image_to_msg(obs.wrist_rgb, stamp) if obs.wrist_rgb is not None
             else Image(header=Header(stamp=stamp, frame_id=WRIST_CAMERA_FRAME)))
    return ObservationMsg(
        header=Header(stamp=stamp, frame_id=WORLD_FRAME), run_id=run_id, episode=episode,
        step=obs.step, task=task, seed=seed, evaluation=evaluation,
        objects=[object_to_msg(s) for s in obs.objects.values()],
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


# Perception camera images: (encoding, dtype) of depth and instance labels (REP 118's depth
# convention: 32FC1 metres; labels as an unsigned 16-bit mono image).
DEPTH_ENCODING, LABELS_ENCODING = "32FC1", "mono16"
_PLANES = {DEPTH_ENCODING: np.dtype("<f4"), LABELS_ENCODING: np.dtype("<u2")}


def plane_to_msg(array: np.ndarray, encoding: str, stamp: Time, frame_id: str) -> Image:
    """A single-channel image (depth or labels) as sensor_msgs/Image, little-endian."""
    a = np.ascontiguousarray(array, dtype=_PLANES[encoding])
    h, w = a.shape
    return Image(header=Header(stamp=stamp, frame_id=frame_id), height=h, width=w,
                 encoding=encoding, is_bigendian=0, step=w * a.itemsize, data=a.tobytes())


def plane_from_msg(msg: Image, encoding: str) -> np.ndarray:
    """The H x W array of a depth or label image; MessageError when it is not one."""
    dtype = _PLANES[encoding]
    if msg.encoding != encoding or msg.is_bigendian:
        raise MessageError(f"expected a little-endian {encoding} image, got {msg.encoding!r}"
                           f"{' big-endian' if msg.is_bigendian else ''}")
    if msg.height == 0 or msg.width == 0 or msg.step != msg.width * dtype.itemsize:
        raise MessageError(f"{encoding} image {msg.width} x {msg.height} with step {msg.step}: "
                           f"expected a packed one")
    data = np.frombuffer(msg.data, dtype=dtype)
    if data.size != msg.height * msg.width:
        raise MessageError(f"{encoding} image has {data.size} pixels, expected "
                           f"{msg.height * msg.width}")
    return data.reshape(msg.height, msg.width)


def object_array_to_msg(estimates: dict, stamp: Time) -> ObjectStateArray:
    """Perceived name -> (position, normal) as ObjectStateArray (orientation: identity)."""
    return ObjectStateArray(
        header=Header(stamp=stamp, frame_id=WORLD_FRAME),
        objects=[object_to_msg(ObjectState(name, pos, normal))
                 for name, (pos, normal) in estimates.items()])


def object_array_from_msg(msg: ObjectStateArray) -> dict:
    """ObjectStateArray -> name -> (position, normal); MessageError for a non-finite or
    non-unit value or a frame other than the world."""
    if msg.header.frame_id not in ("", WORLD_FRAME):
        raise MessageError(f"perceived objects in frame {msg.header.frame_id!r}, expected "
                           f"{WORLD_FRAME!r}")
    out = {}
    for o in msg.objects:
        pos, normal = _vec(o.pose.position), _vec(o.normal)
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(normal))):
            raise MessageError(f"perceived object {o.name!r} is not finite")
        if abs(np.linalg.norm(normal) - 1.0) > 1e-3:
            raise MessageError(f"perceived object {o.name!r}: normal is not a unit vector")
        out[o.name] = (pos, normal)
    return out


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


def step_key(msg) -> tuple[int, int, int]:
    """(run, episode, step) of an Observation, Action or Feedback: what the step core keys by."""
    return int(msg.run_id), int(msg.episode), int(msg.step)


def action_msg(values, *, answering, source: int, error: str = "",
               episode_failed: bool = False) -> Action:
    """An Action for the step of ``answering`` (the observation or action it answers)."""
    return Action(header=answering.header, run_id=answering.run_id, episode=answering.episode,
                  step=answering.step, source=source, values=[float(v) for v in values],
                  error=error, episode_failed=bool(error) and episode_failed)


def action_values(msg: Action) -> np.ndarray | None:
    """The action as an array, or None when the sender reported an error instead."""
    if msg.error:
        return None
    return np.asarray(msg.values, dtype=float)


def feedback_msg(label: StepLabel, *, answering, agent, teacher, beta_deg: float) -> Feedback:
    """The arbiter's verdict on the step of ``answering``; ``teacher`` None when the teacher
    gave no action."""
    return Feedback(header=answering.header, run_id=answering.run_id,
                    episode=answering.episode, step=answering.step,
                    agent_action=[float(v) for v in agent],
                    teacher_action=[] if teacher is None else [float(v) for v in teacher],
                    executed_action=[float(v) for v in label.executed],
                    angle_deg=float(label.angle_deg), beta_deg=float(beta_deg),
                    kind=int(label.kind), train=bool(label.train))


def stamp_ns(msg) -> int:
    """A message's header stamp in nanoseconds (for a run's recency, see RunTracker)."""
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def stamp_key(stamp: Time) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def transforms_msg(stamp: Time, parents, children, positions, quaternions) -> TFMessage:
    """One TFMessage: ``children[i]`` at ``positions[i]`` (m), ``quaternions[i]`` ([x, y, z, w])
    in the frame ``parents[i]``."""
    return TFMessage(transforms=[
        TransformStamped(header=Header(stamp=stamp, frame_id=parent), child_frame_id=child,
                         transform=Transform(
                             translation=Vector3(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                             rotation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]),
                                                 w=float(q[3]))))
        for parent, child, p, q in zip(parents, children, positions, quaternions)])


def camera_info_msg(intrinsics, stamp: Time, frame_id: str = WRIST_CAMERA_FRAME) -> CameraInfo:
    """A distortion-free pinhole camera (``sim.frames.CameraIntrinsics``) as CameraInfo."""
    k = intrinsics
    return CameraInfo(header=Header(stamp=stamp, frame_id=frame_id), height=k.height,
                      width=k.width, distortion_model="plumb_bob", d=[0.0] * 5,
                      k=[k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0])


class SerializedTemplate:
    """A message serialised once by rclpy, whose stamps and float64 fields are rewritten in a
    copy of those bytes for each publish (``Publisher.publish`` takes bytes): rclpy's
    conversion of a message to C costs far more per TransformStamped than rewriting the bytes
    (``benchmarks/bench_scene_frames.py``, docs/benchmarks.md).

    ``make(stamps, floats)`` builds the message from ``stamps`` (a list of Time) and ``floats``
    (a float64 array); each is filled with distinct sentinel values, whose bytes, found exactly
    once in the serialised message, locate the fields in the CDR stream.
    """

    def __init__(self, make, n_stamps: int, n_floats: int):
        secs = [0x5EC00000 + i for i in range(n_stamps)]  # bytes no ASCII name can contain
        nanos = [0x3B000000 + i for i in range(n_stamps)]  # < 10**9
        floats = 1.0 + np.arange(n_floats) * 2.0**-40
        data = serialize_message(make([Time(sec=a, nanosec=b) for a, b in zip(secs, nanos)],
                                      floats))
        self.order = "<" if data[1] == 1 else ">"  # the CDR encapsulation's byte order
        pack = struct.Struct
        stamp_at = [self._find(data, pack(self.order + "I").pack(v)) for v in secs + nanos]
        float_at = [self._find(data, pack(self.order + "d").pack(v)) for v in floats]
        self._stamp_idx = (np.array(stamp_at, dtype=int)[:, None] + np.arange(4)).ravel()
        self._float_idx = (np.array(float_at, dtype=int)[:, None] + np.arange(8)).ravel()
        self._template = np.frombuffer(data, dtype=np.uint8).copy()
        self.n_stamps = n_stamps

    @staticmethod
    def _find(data: bytes, value: bytes) -> int:
        at = data.find(value)
        if at < 0 or data.find(value, at + 1) >= 0:
            raise ValueError("cannot locate a field in the serialised message")
        return at

    def serialize(self, stamp: Time, floats=()) -> bytes:
        buf = self._template.copy()
        stamps = [stamp.sec] * self.n_stamps + [stamp.nanosec] * self.n_stamps
        buf[self._stamp_idx] = np.array(stamps, dtype=self.order + "u4").view(np.uint8)
        if len(self._float_idx):
            values = np.ascontiguousarray(floats, dtype=self.order + "f8").reshape(-1)
            buf[self._float_idx] = values.view(np.uint8)
        return buf.tobytes()


def serialized_transforms(parents, children) -> SerializedTemplate:
    """``serialize(stamp, np.hstack([positions, quaternions]))`` -> the CDR bytes of
    ``transforms_msg(stamp, parents, children, positions, quaternions)``."""
    n = len(children)

    def make(stamps, floats):
        values = np.asarray(floats).reshape(n, 7)
        msg = transforms_msg(stamps[0], parents, children, values[:, :3], values[:, 3:])
        for t, s in zip(msg.transforms, stamps):
            t.header.stamp = s
        return msg

    return SerializedTemplate(make, n, 7 * n)


def serialized_stamped(msg) -> SerializedTemplate:
    """``serialize(stamp)`` -> the CDR bytes of ``msg`` (with a ``header``) at ``stamp``."""
    def make(stamps, _floats):
        msg.header.stamp = stamps[0]
        return msg

    return SerializedTemplate(make, 1, 0)
