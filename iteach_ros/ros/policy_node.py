"""policy: a trained policy deployed on the robot contract (``ros/robot_contract.py``), with
standard messages only.

It acts once per new input pair: the newest ``wrist_image`` with a ``joint_states`` stamped
within ``sync_tolerance_s`` of it (equal stamps by default: one clock, as the simulator
stamps both). The answer, an ``ee_twist`` and a ``gripper_command`` stamped with the image's
stamp, goes out at once, so the control rate is the camera's. The same input again (a driver
republishing a frame) gets the same answer without stepping the LSTM (``AgentStream``).

Safety: a watchdog at the control period publishes a zero twist while the inputs are older
than ``stale_after_s`` (warned once per stale spell), and the node publishes a zero twist
when it shuts down. ``/diagnostics`` (once a second) has the per-step latency (input
received -> command published: p50, max) and the inputs' age; a step slower than
``control_period_s`` is warned about and makes the status WARN.

``reset_policy`` (``std_srvs/Trigger``) starts a new episode: the LSTM state is forgotten. The
simulator's robot interface calls it before each episode; a robot's task runner does the same.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import replace

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.node import Node
from std_srvs.srv import Trigger

from iteach_ros.interaction.lockstep import AgentStream
from iteach_ros.interaction.robot_command import CommandLimits, action_to_command
from iteach_ros.ros import interfaces as topics
from iteach_ros.ros import robot_contract as contract
from iteach_ros.ros.conversions import MessageError, image_from_msg, stamp_key
from iteach_ros.ros.node_support import declare_from_graph, diagnostics, run_node, watch_parameters

RESET_SERVICE = "reset_policy"
LATENCY_WINDOW = 200  # steps in the diagnostics' latency figures
RUN_WINDOW = 100_000  # steps in the summary logged at shutdown


def load_policy(path: str):
    """The CeilingPolicy of a checkpoint (the learner's or a runner's file), for inference."""
    import torch

    from iteach_ros.learning.policy import CeilingPolicy

    if not path:
        raise ValueError("parameter checkpoint is required (a learner checkpoint.pt)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise ValueError(f"checkpoint {path!r} does not exist") from None
    policy_state = state.get("policy", state) if isinstance(state, dict) else None
    if not isinstance(policy_state, dict) or "net" not in policy_state:
        raise ValueError(f"{path!r} holds no policy (expected a learner or runner checkpoint)")
    return CeilingPolicy.from_state_dict(policy_state)


class PolicyNode(Node):
    def __init__(self):
        super().__init__("policy")
        self.params = p = declare_from_graph(self, "policy")
        if p.torch_threads > 0:
            import torch

            torch.set_num_threads(p.torch_threads)
        self.policy = load_policy(p.checkpoint)
        cfg = self.policy.cfg
        self.image_size = cfg.image_size
        self.limits = CommandLimits(period_s=p.control_period_s,
                                    velocity_scale=p.velocity_scale,
                                    max_linear_speed=p.max_linear_speed,
                                    action_mode="7d" if cfg.action_dim == 7 else "4d")
        self.arm, self.fingers = tuple(p.arm_joints), tuple(p.finger_joints)
        if len(self.arm) != cfg.proprio_dim - 1 or not self.fingers:
            raise ValueError(f"the checkpoint's policy takes {cfg.proprio_dim - 1} arm joints "
                             f"and a gripper opening; arm_joints has {len(self.arm)}, "
                             f"finger_joints {len(self.fingers)}")
        self.stream = AgentStream(self.policy.act)
        self.episode = 0
        self.image = self.joints = None  # newest messages
        self.fresh_image = self.fresh_joints = False  # not yet used in an answer
        self.acted_stamp = -1  # stamp (ns) of the newest input pair acted on
        self.input_at = None  # monotonic receipt time of the newest input pair
        self.gripper = self.limits.gripper_open  # the last finger target (starts open)
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.run_latencies: deque[float] = deque(maxlen=RUN_WINDOW)
        self.steps = self.slow_steps = self.stale_stops = self.bad_inputs = 0
        self.stale = False
        qos = contract.INPUT_QOS[p.input_qos]
        self.create_subscription(contract.IMAGE.type, contract.IMAGE.name, self.image_callback,
                                 qos)
        self.create_subscription(contract.JOINTS.type, contract.JOINTS.name,
                                 self.joints_callback, qos)
        self.twist_pub = contract.TWIST.publisher(self)
        self.gripper_pub = contract.GRIPPER.publisher(self)
        self.diagnostics_pub = topics.DIAGNOSTICS.publisher(self)
        self.create_service(Trigger, RESET_SERVICE, self.reset_callback)
        self.create_timer(p.control_period_s, self.watchdog)
        self.create_timer(1.0, self.publish_diagnostics)
        watch_parameters(self, "policy", p, self.apply_parameter)
        self.get_logger().info(
            f"policy from {p.checkpoint} ({cfg.image_size} px, {self.limits.action_mode}): "
            f"{contract.IMAGE.name} + {contract.JOINTS.name} -> {contract.TWIST.name} "
            f"({p.base_frame}) + {contract.GRIPPER.name}")

    def apply_parameter(self, name: str, value) -> None:
        if name in ("velocity_scale", "max_linear_speed"):
            self.limits = replace(self.limits, **{name: float(value)})

    # ---- inputs --------------------------------------------------------------------------------
    def image_callback(self, msg) -> None:
        self.image, self.fresh_image = msg, True
        self.try_act()

    def joints_callback(self, msg) -> None:
        self.joints, self.fresh_joints = msg, True
        self.try_act()

    def try_act(self) -> None:
        """Act once per pair of new messages (each used once)."""
        if not (self.fresh_image and self.fresh_joints):
            return
        stamp = stamp_key(self.image.header.stamp)
        if abs(stamp - stamp_key(self.joints.header.stamp)) > self.params.sync_tolerance_s * 1e9:
            return  # the other input of this pair is still on its way
        self.fresh_image = self.fresh_joints = False
        if stamp < self.acted_stamp:
            return  # older than what was acted on (out of order)
        received = time.monotonic()
        self.input_at = received
        if self.stale:
            self.get_logger().info("inputs are back: acting again")
            self.stale = False
        try:
            image = image_from_msg(self.image)
            if image.shape[:2] != (self.image_size, self.image_size):
                raise MessageError(f"image is {image.shape[1]}x{image.shape[0]}, the policy "
                                   f"takes {self.image_size}x{self.image_size}")
            proprio = contract.proprio_from_joint_state(self.joints, self.arm, self.fingers)
        except MessageError as exc:
            self.bad_inputs += 1
            self.get_logger().error(f"input refused (no command for it): {exc}",
                                    throttle_duration_sec=1.0)
            return
        self.acted_stamp = stamp
        action = self.stream.act((0, self.episode, stamp), image, proprio)
        command = action_to_command(action, self.limits, self.gripper)
        self.gripper = command.gripper
        header_stamp = self.image.header.stamp
        self.twist_pub.publish(contract.twist_msg(command, header_stamp, self.params.base_frame))
        self.gripper_pub.publish(contract.gripper_msg(command.gripper, header_stamp,
                                                      self.fingers))
        latency = time.monotonic() - received
        self.latencies.append(latency)
        self.run_latencies.append(latency)
        self.steps += 1
        if latency > self.params.control_period_s:
            self.slow_steps += 1
            self.get_logger().warn(f"step took {latency * 1e3:.1f} ms, over the control period "
                                   f"of {self.params.control_period_s * 1e3:.0f} ms",
                                   throttle_duration_sec=1.0)

    # ---- safety --------------------------------------------------------------------------------
    def stop_arm(self) -> None:
        self.twist_pub.publish(contract.twist_msg(None, self.get_clock().now().to_msg(),
                                                  self.params.base_frame))

    def finish(self) -> None:
        """Shutting down: stop the arm, say how the run went."""
        self.stop_arm()
        lat = np.array(self.run_latencies) * 1e3
        if lat.size:
            p50, p99 = np.percentile(lat, [50, 99])
            self.get_logger().info(
                f"{self.steps} steps; latency p50 {p50:.2f} ms, p99 {p99:.2f} ms, max "
                f"{lat.max():.2f} ms; {self.slow_steps} over the control period; "
                f"{self.stale_stops} stale stops; {self.bad_inputs} inputs refused")

    def watchdog(self) -> None:
        if self.input_at is None:  # nothing heard yet: the arm is held, nothing to warn about
            self.stop_arm()
            return
        age = time.monotonic() - self.input_at
        if age <= self.params.stale_after_s:
            return
        if not self.stale:
            self.stale = True
            self.stale_stops += 1
            self.get_logger().warn(f"inputs stale ({age:.2f} s > stale_after_s "
                                   f"{self.params.stale_after_s} s): stopping the arm "
                                   f"(zero twist)")
        self.stop_arm()

    def reset_callback(self, request, response):
        self.episode += 1
        self.acted_stamp = -1
        response.success = True
        response.message = f"episode {self.episode}: LSTM state cleared"
        return response

    def publish_diagnostics(self) -> None:
        lat = np.array(self.latencies) * 1e3
        age = (time.monotonic() - self.input_at) if self.input_at is not None else float("inf")
        slow = bool(lat.size) and float(lat.max()) > self.params.control_period_s * 1e3
        level = (DiagnosticStatus.WARN if self.stale or slow else DiagnosticStatus.OK)
        message = ("inputs stale: arm stopped" if self.stale else
                   "a step exceeded the control period" if slow else "acting")
        values = {"steps": self.steps, "episode": self.episode,
                  "latency_p50_ms": round(float(np.median(lat)), 3) if lat.size else "",
                  "latency_max_ms": round(float(lat.max()), 3) if lat.size else "",
                  "control_period_ms": self.params.control_period_s * 1e3,
                  "slow_steps": self.slow_steps, "stale_stops": self.stale_stops,
                  "input_age_s": round(age, 3), "bad_inputs": self.bad_inputs}
        self.diagnostics_pub.publish(diagnostics(
            self, f"iteach_ros/policy{self.get_namespace().rstrip('/')}", level, message,
            values))


def main(args=None) -> int:
    return run_node("policy", PolicyNode, args, finish=PolicyNode.finish)


if __name__ == "__main__":
    sys.exit(main())
