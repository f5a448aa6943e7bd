"""The robot contract: the topics a trained policy needs from a robot and sends it, in standard
messages only (docs/robot_contract.md has the table). Names are relative and remappable
(``--ros-args -r wrist_image:=/camera/color/image_raw``).

- in  ``wrist_image``   ``sensor_msgs/Image`` (rgb8, the learner's size)
- in  ``joint_states``  ``sensor_msgs/JointState`` (the arm's joints and the finger joints, by
  name, in any order; extra joints are ignored)
- out ``ee_twist``      ``geometry_msgs/TwistStamped``: the end effector's velocity in the base
  frame (``header.frame_id``), held for one control period; ``header.stamp`` is the stamp of
  the inputs it answers
- out ``gripper_command`` ``sensor_msgs/JointState``: finger position targets (m), same stamp.
  A JointState rather than control_msgs' GripperCommand action: no control_msgs wheel exists
  for this ROS install, an action is one goal per grasp while the policy restates its gripper
  every step, and a JointState command topic is what simulator bridges already take (Isaac
  Sim's ``joint_command``, topic_based_ros2_control).

QoS, chosen per direction: inputs are subscribed with ``sensor_data`` (best effort, depth 1:
matches reliable and best-effort drivers alike; a lost frame is replaced by the next) or,
with ``input_qos: reliable``, reliably. Commands are reliable and volatile: a late-joining
driver must never receive a stale command from the past.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import TwistStamped
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos import qos_profile_sensor_data as SENSOR_DATA
from sensor_msgs.msg import Image, JointState

from iteach_ros.interaction.robot_command import Command
from iteach_ros.ros.conversions import PANDA_JOINTS, MessageError
from iteach_ros.ros.interfaces import Topic

RELIABLE_INPUT = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                            reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.VOLATILE)
INPUT_QOS = {"sensor_data": SENSOR_DATA, "reliable": RELIABLE_INPUT}
COMMANDS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)

# The inputs' Topic QoS is what a driver publishes with (reliable serves both kinds of
# subscriber); the policy subscribes with INPUT_QOS[input_qos].
IMAGE = Topic("wrist_image", Image, RELIABLE_INPUT, "robot -> policy: wrist camera, rgb8")
JOINTS = Topic("joint_states", JointState, RELIABLE_INPUT,
               "robot -> policy: arm and finger joint positions (rad, m)")
TWIST = Topic("ee_twist", TwistStamped, COMMANDS,
              "policy -> robot: end-effector velocity in the base frame, one control period")
GRIPPER = Topic("gripper_command", JointState, COMMANDS,
                "policy -> robot: finger position targets (m)")
CONTRACT = (IMAGE, JOINTS, TWIST, GRIPPER)

ARM_JOINTS = PANDA_JOINTS[:7]
FINGER_JOINTS = PANDA_JOINTS[7:]  # the Panda's second finger mimics the first


def proprio_from_joint_state(msg: JointState, arm: tuple[str, ...],
                             fingers: tuple[str, ...]) -> np.ndarray:
    """The learner's proprioception (arm joints, then the gripper opening = the fingers'
    positions summed, one listed finger counting for both) from a JointState, by name."""
    index = {name: i for i, name in enumerate(msg.name)}
    missing = [n for n in (*arm, *fingers) if n not in index]
    if missing:
        raise MessageError(f"joint_states lacks {missing} (has {list(msg.name)})")
    if len(msg.position) != len(msg.name):
        raise MessageError(f"joint_states has {len(msg.name)} names but "
                           f"{len(msg.position)} positions")
    joints = [msg.position[index[n]] for n in arm]
    opening = sum(msg.position[index[n]] for n in fingers) * (2.0 / len(fingers))
    out = np.array(joints + [opening], dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise MessageError(f"joint_states has non-finite positions: {out.tolist()}")
    return out.astype(np.float32)


def twist_msg(command: Command | None, stamp, frame_id: str) -> TwistStamped:
    """The command's velocities (``None``: a zero twist, the stop)."""
    msg = TwistStamped()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    if command is not None:
        msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = map(float, command.linear)
        msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = map(float,
                                                                            command.angular)
    return msg


def gripper_msg(target: float, stamp, fingers: tuple[str, ...]) -> JointState:
    msg = JointState(name=list(fingers), position=[float(target)] * len(fingers))
    msg.header.stamp = stamp
    return msg


def twist_values(msg: TwistStamped) -> tuple[np.ndarray, np.ndarray]:
    t = msg.twist
    return (np.array([t.linear.x, t.linear.y, t.linear.z]),
            np.array([t.angular.x, t.angular.y, t.angular.z]))


def gripper_value(msg: JointState, fingers: tuple[str, ...]) -> float:
    """The commanded finger target (the first listed finger's, by name)."""
    index = {name: i for i, name in enumerate(msg.name)}
    if fingers[0] not in index or len(msg.position) != len(msg.name):
        raise MessageError(f"gripper_command lacks {fingers[0]!r} (has {list(msg.name)})")
    return float(msg.position[index[fingers[0]]])
