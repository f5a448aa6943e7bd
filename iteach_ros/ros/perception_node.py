"""perception: object states from a calibrated depth camera and an instance labelling, instead
of the simulator's privileged ones (the paper's open question 3).

Inputs, as a robot's RGB-D camera and segmenter provide them: ``perception_camera/depth``
(32FC1, metres), ``perception_camera/labels`` (mono16: 0 nothing, ``i + 1`` the task's
``i``-th object, ``core.tasks.object_names``), paired by stamp; ``perception_camera/camera_info``
(the intrinsics); the camera frame's pose from ``tf_static`` (the wheels carry no tf2 buffer:
the node composes the static transforms from its frame up to the world itself). In the
simulator, sim_bridge with ``perception_camera: true`` renders them.

Output: ``perceived_objects`` (``iteach_ros/ObjectStateArray``) at the images' stamp, each
object seen so far in the episode (``core.perception``: centroid of the visible surface, a
plane's normal where the task reads one; a hidden object keeps its last estimate). The
tracker's memory is cleared when an episode ends (``episode_event``). A malformed image is
refused with a warning: no estimate, so the teacher waits and the simulator's retry logic
applies.
"""

from __future__ import annotations

import sys

import numpy as np
from rclpy.node import Node

from iteach_ros.core.perception import ObjectEstimator, Pinhole, back_project, quat_to_matrix
from iteach_ros.core.tasks import object_names
from iteach_ros.interaction.lockstep import StampPairer
from iteach_ros.msg import EpisodeEvent
from iteach_ros.ros import interfaces as topics
from iteach_ros.ros.conversions import (
    DEPTH_ENCODING,
    LABELS_ENCODING,
    MessageError,
    object_array_to_msg,
    plane_from_msg,
    stamp_key,
)
from iteach_ros.ros.node_support import declare_from_graph, run_node


def normal_objects(task: str) -> set[str]:
    """The objects whose normal the task's CodePolicies read (``sim.tasks``' normal_towards)."""
    from iteach_ros.sim.tasks import TASKS

    return {name for name, _, _ in TASKS[task].normal_towards}


def static_pose(transforms: dict, frame: str, world: str) -> tuple[np.ndarray, np.ndarray]:
    """(rotation, translation) of ``frame`` in ``world``, composed along the static transforms
    (child -> (parent, rotation, translation)); KeyError naming the missing link."""
    rotation, translation = np.eye(3), np.zeros(3)
    seen = set()
    while frame != world:
        if frame not in transforms or frame in seen:
            raise KeyError(f"no static transform from {world!r} to {frame!r}")
        seen.add(frame)
        parent, r, t = transforms[frame]
        rotation, translation = r @ rotation, r @ translation + t
        frame = parent
    return rotation, translation


class PerceptionNode(Node):
    def __init__(self):
        super().__init__("perception")
        self.params = p = declare_from_graph(self, "perception")
        self.estimator = ObjectEstimator(object_names(p.task), normal_objects(p.task))
        self.pairer = StampPairer(("depth", "labels"), keep=4)
        self.pinhole: Pinhole | None = None
        self.static: dict = {}  # child -> (parent, rotation, translation)
        self.pose = None  # the camera's (rotation, translation), once known
        self.frames_done = 0
        self.objects_pub = topics.PERCEIVED_OBJECTS.publisher(self)
        self.subs = [
            topics.PERCEPTION_DEPTH.subscription(self, lambda m: self.image(m, "depth")),
            topics.PERCEPTION_LABELS.subscription(self, lambda m: self.image(m, "labels")),
            topics.PERCEPTION_CAMERA_INFO.subscription(self, self.camera_info_callback),
            topics.TF_STATIC.subscription(self, self.tf_static_callback),
            topics.EPISODE_EVENT.subscription(self, self.event_callback),
        ]
        self.get_logger().info(f"task {p.task}: perceiving {list(self.estimator.names)}"
                               + (f", normals of {sorted(self.estimator.with_normal)}"
                                  if self.estimator.with_normal else ""))

    def camera_info_callback(self, msg) -> None:
        fx, _, cx, _, fy, cy = msg.k[:6]
        if not (fx > 0 and fy > 0):
            self.get_logger().error(f"camera_info with focal lengths {fx}, {fy}: ignored")
            return
        self.pinhole = Pinhole(float(fx), float(fy), float(cx), float(cy))

    def tf_static_callback(self, msg) -> None:
        for t in msg.transforms:
            q, v = t.transform.rotation, t.transform.translation
            self.static[t.child_frame_id] = (t.header.frame_id,
                                             quat_to_matrix([q.x, q.y, q.z, q.w]),
                                             np.array([v.x, v.y, v.z]))
        self.pose = None  # recomposed at the next frame (the scene may have moved)

    def event_callback(self, msg) -> None:
        if msg.event != EpisodeEvent.STARTED:
            self.estimator.reset()  # the next scene is a new one
            self.pairer.clear()

    def image(self, msg, role: str) -> None:
        pair = self.pairer.offer(role, stamp_key(msg.header.stamp), msg)
        if pair is None:
            return
        log = self.get_logger()
        if self.pinhole is None:
            log.warn("no camera_info yet: frame skipped", throttle_duration_sec=2.0)
            return
        frame = pair["depth"].header.frame_id
        try:
            if self.pose is None:
                self.pose = static_pose(self.static, frame, topics.WORLD_FRAME)
            depth = plane_from_msg(pair["depth"], DEPTH_ENCODING)
            labels = plane_from_msg(pair["labels"], LABELS_ENCODING)
            if depth.shape != labels.shape:
                raise MessageError(f"labels {labels.shape} and depth {depth.shape} differ")
        except (KeyError, MessageError) as exc:
            log.warn(f"frame at {msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d} "
                     f"refused: {exc}", throttle_duration_sec=2.0)
            return
        rotation, translation = self.pose
        points = back_project(depth, self.pinhole, rotation, translation)
        estimates = self.estimator.estimate(points, labels, translation)
        self.objects_pub.publish(object_array_to_msg(estimates, pair["depth"].header.stamp))
        self.frames_done += 1


def main(args=None) -> int:
    return run_node("perception", PerceptionNode, args)


if __name__ == "__main__":
    sys.exit(main())
