"""The simulator's scene for RViz, tf2 and bags: TF, the wrist camera's CameraInfo and the URDF
descriptions of the arm and the scene (frame names: ``robot_description``).

- ``robot_description``, ``scene_description``: latched, published once when it is created
  (sim_bridge's lifecycle ``configure``, which loads the scene; ``cleanup`` destroys it).
- ``tf_static``: every frame fixed to its parent, as one latched message, republished at each
  episode start (``publish_static``): the tasks move even bodies without joints when they
  randomise a scene.
- ``tf``: the moving frames at an observation's stamp (``publish``), and ``camera_info`` with
  each wrist image, both only while someone subscribes: nothing is computed or serialised on
  the lock-step path when nobody looks.

A simulator backend without a MuJoCo model (RLBench) has no frame tree: then nothing is
published and the node says so once.
"""

from __future__ import annotations

import numpy as np
from std_msgs.msg import String

from iteach_ros.ros import interfaces as topics
from iteach_ros.ros.conversions import (
    camera_info_msg,
    serialized_stamped,
    serialized_transforms,
    transforms_msg,
)
from iteach_ros.ros.robot_description import (
    frame_names,
    robot_urdf,
    scene_urdf,
)
from iteach_ros.sim.arm import ARM_BASE_BODY, TCP_SITE
from iteach_ros.sim.env import WRIST_CAMERA
from iteach_ros.sim.frames import OPTICAL_FROM_MUJOCO_CAMERA, quat_multiply
from iteach_ros.sim.perception import PERCEPTION_CAMERA


class SceneFramesPublisher:
    def __init__(self, node, env, perception_camera: bool = False):
        self.node = node
        self.publishers = []
        self.enabled = hasattr(env, "frame_tree")
        if not self.enabled:
            node.get_logger().warn(f"{type(env).__name__} has no frame tree: no TF, "
                                   f"camera_info or robot description")
            return
        # The perception camera, when its images are published, so its pose is on tf_static.
        extra = (PERCEPTION_CAMERA,) if perception_camera else ()
        self.tree = tree = env.frame_tree(cameras=(WRIST_CAMERA,) + extra)
        names = frame_names(tree, arm_base=ARM_BASE_BODY, world=topics.WORLD_FRAME,
                            camera=topics.WRIST_CAMERA_FRAME, tcp_site=TCP_SITE,
                            cameras={PERCEPTION_CAMERA: topics.PERCEPTION_CAMERA_FRAME})
        parent_name = {(f.kind, f.name): n for f, n in zip(tree.frames, names)}
        self.parents = [parent_name.get(("body", f.parent), "") for f in tree.frames]
        self.children = names
        rooted = [i for i, f in enumerate(tree.frames) if f.parent]  # the world is the root
        self.moving = [i for i in rooted if tree.frames[i].moving]
        self.static = [i for i in rooted if not tree.frames[i].moving]
        self.camera_rows = [r for r, i in enumerate(self.static)
                            if tree.frames[i].kind == "camera"]
        # Serialised once: per step only stamps and poses are written (conversions)
        self.moving_cdr = serialized_transforms([self.parents[i] for i in self.moving],
                                                [self.children[i] for i in self.moving])
        self.camera_info_cdr = (serialized_stamped(camera_info_msg(env.camera_intrinsics(),
                                                                   self.stamp()))
                                if env.render_wrist else None)

        def publisher(topic):
            self.publishers.append(topic.publisher(node))
            return self.publishers[-1]

        self.tf_pub = publisher(topics.TF)
        self.tf_static_pub = publisher(topics.TF_STATIC)
        self.camera_info_pub = publisher(topics.CAMERA_INFO)
        publisher(topics.ROBOT_DESCRIPTION).publish(
            String(data=robot_urdf(tree, names, arm_base=ARM_BASE_BODY)))
        publisher(topics.SCENE_DESCRIPTION).publish(
            String(data=scene_urdf(tree, names, arm_base=ARM_BASE_BODY,
                                   name=f"{env.task_name}_scene")))

    def destroy(self) -> None:
        """Remove the publishers from the node (its lifecycle cleanup): the latched
        descriptions go with them."""
        for pub in self.publishers:
            self.node.destroy_publisher(pub)
        self.publishers, self.enabled = [], False

    def stamp(self):
        return self.node.get_clock().now().to_msg()

    def publish_static(self) -> None:
        """All fixed frames, as the scene now is (call after each reset)."""
        if not self.enabled:
            return
        pos, quat = self.tree.relative_poses(self.static)
        # A camera's image frame is its optical frame.
        quat[self.camera_rows] = quat_multiply(quat[self.camera_rows],
                                               OPTICAL_FROM_MUJOCO_CAMERA)
        self.tf_static_pub.publish(transforms_msg(
            self.stamp(), [self.parents[i] for i in self.static],
            [self.children[i] for i in self.static], pos, quat))

    def publish(self, stamp) -> None:
        """The moving frames and the camera's intrinsics at an observation's ``stamp``."""
        if not self.enabled:
            return
        if self.tf_pub.get_subscription_count():
            pos, quat = self.tree.relative_poses(self.moving)
            self.tf_pub.publish(self.moving_cdr.serialize(stamp, np.hstack([pos, quat])))
        if self.camera_info_cdr is not None and self.camera_info_pub.get_subscription_count():
            self.camera_info_pub.publish(self.camera_info_cdr.serialize(stamp))
