"""sim_bridge as a robot driver (``command_interface: robot``): it publishes the robot
contract's inputs (``wrist_image``, ``joint_states``) with every observation and steps on the
contract's commands (``ee_twist`` + ``gripper_command``) instead of the arbiter's executed
action, so a deployed ``policy`` node runs against the simulator through standard messages
only (``ros/robot_contract.py``).

Still a lock-step: the commands for a step carry the stamp of that step's inputs, and the
simulator advances when both have come for the awaited stamp (anything else, such as the
policy's zero twists while it waits, is ignored). Before each episode the policy's
``reset_policy`` service is called (its LSTM state starts fresh). The driver's side of the
command semantics (``interaction.robot_command``): velocities back to per-step displacements,
the workspace box, the finger target back to open/close.

:class:`RobotInterface` is a part of :class:`~iteach_ros.ros.sim_bridge_node.SimBridgeNode`.
"""

from __future__ import annotations

from std_srvs.srv import Trigger

from iteach_ros.interaction.robot_command import (
    CommandLimits,
    command_to_action,
    inside_workspace,
)
from iteach_ros.msg import Action
from iteach_ros.ros import robot_contract as contract
from iteach_ros.ros.conversions import MessageError, joint_state_msg, stamp_key

RESET_TIMEOUT_S = 5.0


class RobotInterface:
    """The robot contract's side of sim_bridge."""

    def robot_configure(self) -> None:
        p = self.params
        self.robot = p.command_interface == "robot"
        if not self.robot:
            return
        self.limits = CommandLimits(workspace_low=tuple(p.workspace_low),
                                    workspace_high=tuple(p.workspace_high),
                                    action_mode="7d" if self.env.action_dim == 7 else "4d")
        self.contract_image_pub = contract.IMAGE.publisher(self)
        self.contract_joint_pub = contract.JOINTS.publisher(self)
        self.twist_sub = contract.TWIST.subscription(self, self.twist_callback)
        self.gripper_sub = contract.GRIPPER.subscription(self, self.gripper_callback)
        self.reset_client = (self.create_client(Trigger, p.policy_reset_service)
                             if p.policy_reset_service else None)
        self.commands: dict[str, object] = {}  # "twist" / "gripper" for the awaited stamp

    def robot_destroy(self) -> None:
        if not self.robot:
            return
        for pub in (self.contract_image_pub, self.contract_joint_pub):
            self.destroy_publisher(pub)
        for sub in (self.twist_sub, self.gripper_sub):
            self.destroy_subscription(sub)
        if self.reset_client is not None:
            self.destroy_client(self.reset_client)

    def robot_waiting_for(self) -> str:
        """What the start still waits for ("" when the policy is there)."""
        if self.count_publishers(self.twist_sub.topic_name) == 0:
            return f"a publisher of {self.twist_sub.topic_name} (the policy)"
        if self.reset_client is not None and not self.reset_client.service_is_ready():
            return f"the {self.params.policy_reset_service} service (the policy)"
        return ""

    def robot_send(self, obs_msg) -> None:
        """The contract's inputs of this step (also when republished)."""
        self.commands = {}
        self.contract_image_pub.publish(obs_msg.wrist_image)
        self.contract_joint_pub.publish(joint_state_msg(obs_msg))

    def robot_begin(self, publish) -> None:
        """``publish()`` (the episode's first observation) once the policy has reset."""
        if self.reset_client is None:
            publish()
            return
        future = self.reset_client.call_async(Trigger.Request())
        timer = None

        def done(_=None):
            nonlocal timer
            if timer is None:
                return  # already handled
            self.destroy_timer(timer)
            timer = None
            if not future.done() or future.result() is None:
                self.get_logger().warn(f"{self.params.policy_reset_service}: no answer within "
                                       f"{RESET_TIMEOUT_S} s; episode {self.episode} starts "
                                       f"anyway")
            if self.active:
                publish()

        timer = self.create_timer(RESET_TIMEOUT_S, done)
        future.add_done_callback(done)

    def twist_callback(self, msg) -> None:
        self._command("twist", msg)

    def gripper_callback(self, msg) -> None:
        self._command("gripper", msg)

    def _command(self, kind: str, msg) -> None:
        obs = self.last_obs
        if (not self.active or obs is None or not self.lockstep.awaited
                or stamp_key(msg.header.stamp) != stamp_key(obs.header.stamp)):
            return  # not for the awaited step (a zero twist, a late or repeated command)
        self.commands[kind] = msg
        if len(self.commands) < 2:
            return
        twist, gripper = self.commands.pop("twist"), self.commands.pop("gripper")
        try:
            linear, angular = contract.twist_values(twist)
            ee = (obs.ee_position.x, obs.ee_position.y, obs.ee_position.z)
            values = command_to_action(inside_workspace(linear, ee, self.limits), angular,
                                       contract.gripper_value(gripper, contract.FINGER_JOINTS),
                                       self.limits)
        except (MessageError, ValueError) as exc:
            self.get_logger().error(f"command refused for episode {self.episode} step "
                                    f"{obs.step}: {exc}", throttle_duration_sec=1.0)
            return
        self.executed_callback(Action(header=obs.header, run_id=obs.run_id,
                                      episode=obs.episode, step=obs.step,
                                      source=Action.SOURCE_EXECUTED,
                                      values=[float(v) for v in values]))
