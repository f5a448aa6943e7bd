"""The deployed policy node in this process over real DDS, driven through the robot contract by
a test peer: it answers an input pair with a twist and a gripper command stamped like the
inputs, stops the arm with zero twists (and says so) when the inputs go stale, warns about steps
slower than the control period, refuses malformed inputs, and touches standard types only."""

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
from builtin_interfaces.msg import Time  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402

from iteach_ros.ros import robot_contract as contract  # noqa: E402
from iteach_ros.ros.conversions import image_to_msg  # noqa: E402
from iteach_ros.ros.policy_node import PolicyNode  # noqa: E402
from ros_monitor import nodes_in_this_process  # noqa: E402

pytestmark = pytest.mark.ros
SIZE = 32


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    from iteach_ros.learning.buffer import ReplayBuffer
    from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
    from iteach_ros.learning.trainer import Trainer, TrainerConfig

    torch.manual_seed(0)
    return Trainer(CeilingPolicy(PolicyConfig(image_size=SIZE)), ReplayBuffer(),
                   TrainerConfig()).save_checkpoint(tmp_path_factory.mktemp("p") / "policy.pt")


class Robot(Node):
    """Plays the robot driver: publishes the contract's inputs, records the commands."""

    def __init__(self):
        super().__init__("robot_peer")
        self.image_pub = contract.IMAGE.publisher(self)
        self.joint_pub = contract.JOINTS.publisher(self)
        self.twists, self.grippers, self.diagnostics, self.log = [], [], [], []
        contract.TWIST.subscription(self, self.twists.append)
        contract.GRIPPER.subscription(self, self.grippers.append)
        self.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda m: self.diagnostics.extend(
                                     s for s in m.status if s.name.startswith("iteach_ros/policy")),
                                 10)
        self.create_subscription(Log, "/rosout", self.log.append, 100)

    def send(self, sec: int, joints=None, size: int = SIZE):
        stamp = Time(sec=sec)
        rgb = np.full((size, size, 3), 40 * (sec % 5), dtype=np.uint8)
        self.image_pub.publish(image_to_msg(rgb, stamp))
        names = joints or [*contract.ARM_JOINTS, *contract.FINGER_JOINTS, "extra_joint"]
        msg = JointState(name=list(names), position=[0.1 * i for i in range(len(names))])
        msg.header.stamp = stamp
        self.joint_pub.publish(msg)


def _args(checkpoint, **params):
    values = {"checkpoint": str(checkpoint), "input_qos": "reliable", **params}
    return ["--ros-args"] + [x for k, v in values.items() for x in ("-p", f"{k}:={v}")]


def _graph(checkpoint, **params):
    return nodes_in_this_process(lambda: (PolicyNode(), Robot()), args=_args(checkpoint,
                                                                             **params))


def _connected(robot):
    return (robot.image_pub.get_subscription_count() == 1
            and robot.joint_pub.get_subscription_count() == 1
            and robot.count_publishers(contract.TWIST.name) == 1)


def _moving(robot):
    """The answers to inputs (stamped like them: small seconds), not the watchdog's zero
    twists (stamped now)."""
    return [t for t in robot.twists if 0 < t.header.stamp.sec < 1000]


def test_an_input_pair_is_answered_with_commands_stamped_like_it(checkpoint):
    with _graph(checkpoint, stale_after_s=5.0) as ((policy, robot), spin_until):
        assert spin_until(lambda: _connected(robot))
        robot.send(7)
        assert spin_until(lambda: _moving(robot) and robot.grippers)
        twist = _moving(robot)[0]
        assert twist.header.stamp.sec == 7 and twist.header.frame_id == "world"
        speed = np.linalg.norm([twist.twist.linear.x, twist.twist.linear.y,
                                twist.twist.linear.z])
        assert 0 < speed <= np.sqrt(3) * 0.2 + 1e-9  # the paper's 1 cm per 50 ms at most
        assert robot.grippers[0].name == list(contract.FINGER_JOINTS)
        assert robot.grippers[0].position[0] in (0.0, 0.04)
        robot.send(7)  # the same frame again: the same answer, the LSTM not stepped twice
        assert spin_until(lambda: len(_moving(robot)) == 2)
        assert _moving(robot)[1].twist == twist.twist and policy.steps == 2
        # Standard messages only, on every topic the node touches.
        types = [t for _, ts in (policy.get_publisher_names_and_types_by_node("policy", "/")
                                 + policy.get_subscriber_names_and_types_by_node("policy", "/"))
                 for t in ts]
        assert types and not [t for t in types if t.startswith("iteach_ros/")], types


def test_stale_inputs_stop_the_arm_with_zero_twists_and_a_warning(checkpoint):
    with _graph(checkpoint, stale_after_s=0.3) as ((policy, robot), spin_until):
        assert spin_until(lambda: _connected(robot))
        robot.send(3)
        assert spin_until(lambda: _moving(robot))
        robot.twists.clear()  # from here on no input comes
        assert spin_until(lambda: len(robot.twists) >= 3, timeout=5.0)
        for t in robot.twists:  # at the control rate, all zero
            v = t.twist
            assert (v.linear.x, v.linear.y, v.linear.z, v.angular.x, v.angular.y,
                    v.angular.z) == (0.0,) * 6
        assert spin_until(lambda: any("inputs stale" in m.msg and m.level == Log.WARN
                                      for m in robot.log))
        assert spin_until(lambda: any(s.level == DiagnosticStatus.WARN
                                      and "stale" in s.message for s in robot.diagnostics),
                          timeout=5.0)
        assert policy.stale_stops == 1
        robot.send(4)  # inputs back: it acts again
        assert spin_until(lambda: _moving(robot) and not policy.stale)


def test_a_step_slower_than_the_control_period_is_warned_about(checkpoint):
    with _graph(checkpoint, control_period_s=0.001, stale_after_s=30.0) as ((policy, robot),
                                                                          spin_until):
        assert spin_until(lambda: _connected(robot))
        robot.send(1)
        assert spin_until(lambda: _moving(robot))
        assert spin_until(lambda: any("over the control period" in m.msg for m in robot.log))
        assert spin_until(lambda: any(s.level == DiagnosticStatus.WARN
                                      and "control period" in s.message
                                      for s in robot.diagnostics), timeout=5.0)
        status = next(s for s in robot.diagnostics if "control period" in s.message)
        values = {kv.key: kv.value for kv in status.values}
        assert policy.slow_steps >= 1 and float(values["latency_max_ms"]) > 1.0


def test_malformed_inputs_get_no_command(checkpoint):
    with _graph(checkpoint, stale_after_s=30.0) as ((policy, robot), spin_until):
        assert spin_until(lambda: _connected(robot))
        robot.send(1, joints=["panda_joint1", "panda_finger_joint1"])  # joints missing
        assert spin_until(lambda: policy.bad_inputs == 1)
        robot.send(2, size=SIZE * 2)  # the wrong camera size
        assert spin_until(lambda: policy.bad_inputs == 2)
        spin_until(lambda: False, timeout=0.3)
        assert not _moving(robot)
        assert any("lacks" in m.msg for m in robot.log)
        robot.send(3)  # a good pair afterwards is answered
        assert spin_until(lambda: _moving(robot))


def test_a_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        with _graph(tmp_path / "none.pt"):
            pass
