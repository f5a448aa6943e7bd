"""arbiter: pairs the agent's and the teacher's action for the same observation and decides.

For each (episode, step) it publishes exactly one executed action and one feedback record, plus
RViz markers while someone watches them (only then does it subscribe to the observations, for
the end-effector position the arrows start from). Pairing and the verdict are the core's
(``interaction.lockstep.ActionPairer``, ``interaction.labels.label_step``); a teacher that
reports an error leaves the agent's action to run unlabelled (feedback kind NONE). In an
evaluation episode the learner acts alone (its actions come as ``SOURCE_AGENT_ALONE``): they
pass straight through and no feedback is published.
"""

from __future__ import annotations

import math
import sys

from geometry_msgs.msg import Point, Vector3
from rclpy.node import Node
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from iteach_ros.core import ACTION_DIMS
from iteach_ros.interaction.checks import InvalidData, check_action
from iteach_ros.interaction.labels import label_step
from iteach_ros.interaction.lockstep import ActionPairer
from iteach_ros.interaction.loop import ends_episode, teacher_failure
from iteach_ros.learning.arbiter import ArbiterError, FeedbackArbiter, FeedbackKind
from iteach_ros.msg import Action, EpisodeEvent
from iteach_ros.ros import interfaces as topics
from iteach_ros.ros.conversions import (
    action_msg,
    action_values,
    feedback_msg,
    stamp_ns,
    step_key,
)
from iteach_ros.ros.node_support import (
    declare_from_graph,
    publishers_of,
    run_node,
    watch_parameters,
)

ARROW_M = 0.08  # marker arrow length for a full-scale action component


class ArbiterNode(Node):
    def __init__(self):
        super().__init__("arbiter")
        self.params = p = declare_from_graph(self, "arbiter")
        self.action_dim = ACTION_DIMS[p.action_mode]
        self.arbiter = FeedbackArbiter(p.beta_deg, p.mode, p.gripper_must_agree)
        watch_parameters(self, "arbiter", p, self.apply_parameter)
        self.executed_pub = topics.EXECUTED_ACTION.publisher(self)
        self.feedback_pub = topics.FEEDBACK.publisher(self)
        self.marker_pub = topics.MARKERS.publisher(self)
        self.agent_sub = topics.AGENT_ACTION.subscription(self, self.agent_callback)
        self.teacher_sub = topics.TEACHER_ACTION.subscription(self, self.teacher_callback)
        self.event_sub = topics.EPISODE_EVENT.subscription(self, self.event_callback)
        # Observations carry the wrist image: received only while markers are watched.
        self.observation_sub = None
        self.visual_timer = self.create_timer(1.0, self.update_visualisation)
        self.pairer = ActionPairer()
        self.ee = {}  # (run, episode, step) -> end-effector point, for the markers
        self.counts = {k: 0 for k in FeedbackKind}
        self.get_logger().info(f"beta {p.beta_deg:g} deg, mode {p.mode}")

    def apply_parameter(self, name: str, value) -> None:
        """beta_deg, mode, gripper_must_agree at run time: the next decision uses them."""
        settings = {"beta_deg": self.arbiter.beta_deg, "mode": self.arbiter.mode,
                    "gripper_must_agree": self.arbiter.gripper_must_agree, name: value}
        self.arbiter = FeedbackArbiter(**settings)

    def update_visualisation(self) -> None:
        watched = self.marker_pub.get_subscription_count() > 0
        if watched and self.observation_sub is None:
            self.observation_sub = topics.OBSERVATION.subscription(self,
                                                                   self.observation_callback)
        elif not watched and self.observation_sub is not None:
            self.destroy_subscription(self.observation_sub)
            self.observation_sub, self.ee = None, {}

    def observation_callback(self, msg) -> None:
        self.ee = {step_key(msg): msg.ee_position}

    def event_callback(self, msg) -> None:
        if msg.event != EpisodeEvent.STARTED or msg.run_id == self.pairer.run:
            return
        if self.pairer.accepts_run(msg.run_id, stamp_ns(msg)):
            self.get_logger().info(f"simulator run {msg.run_id:016x} started")
        else:
            self.refuse(self.event_sub, msg, "an event of an earlier simulator run")

    def agent_callback(self, msg: Action) -> None:
        if msg.source == Action.SOURCE_AGENT_ALONE:  # an evaluation episode: no verdict
            key = step_key(msg)
            if (not self.pairer.accepts_run(key[0], stamp_ns(msg))
                    or self.pairer.is_replay(key)):
                return
            values = self.checked(msg, self.agent_sub, "agent action")
            if values is not None:
                self.execute(msg, None, values)
            return
        self._arrive(msg, "agent", self.agent_sub)

    def teacher_callback(self, msg: Action) -> None:
        self._arrive(msg, "teacher", self.teacher_sub)

    def _arrive(self, msg: Action, role: str, subscription) -> None:
        expected = Action.SOURCE_AGENT if role == "agent" else Action.SOURCE_TEACHER
        if msg.source != expected:
            self.refuse(subscription, msg, f"source {msg.source} on the {role}'s topic")
            return
        pair, dropped = self.pairer.offer(step_key(msg), role, msg, stamp_ns(msg))
        for (run, episode, step), roles in dropped:
            self.get_logger().warn(f"dropping unpaired action(s) for run {run:016x} episode "
                                   f"{episode} step {step}: {roles}")
        if pair is not None:
            self.decide(pair["agent"], pair["teacher"])

    def refuse(self, subscription, msg, reason: str) -> None:
        """A message that must not be used, said with its topic, publishers and step."""
        self.get_logger().error(
            f"refused on {subscription.topic_name} (publishers: "
            f"{publishers_of(self, subscription.topic_name)}), run {msg.run_id:016x} "
            f"episode {msg.episode} step {getattr(msg, 'step', '-')}: {reason}",
            throttle_duration_sec=1.0)

    def checked(self, msg: Action, subscription, what: str):
        """The message's values if they are a usable action, else None (refusals said)."""
        values = action_values(msg)
        if values is None:
            return None
        try:
            return check_action(values, self.action_dim, what=what)
        except InvalidData as exc:
            self.refuse(subscription, msg, str(exc))
            return None

    def decide(self, agent: Action, teacher: Action) -> None:
        if agent.error:
            self.get_logger().error(f"agent sent an error instead of an action: {agent.error}")
        agent_values = self.checked(agent, self.agent_sub, "agent action")
        teacher_values = self.checked(teacher, self.teacher_sub, "teacher action")
        if ends_episode(teacher_values, teacher.error if teacher.episode_failed else "",
                        interactive=True):  # the teacher is gone for this episode: it fails
            self._publish(action_msg([], answering=agent, source=Action.SOURCE_EXECUTED,
                                     error=teacher_failure(teacher.error), episode_failed=True),
                          None, [], None)
            return
        try:
            label = label_step(self.arbiter, agent_values, teacher_values, teacher.error,
                               dim=self.action_dim)
        except ArbiterError as exc:  # neither side gave an action: nothing is made up
            self.refuse(self.agent_sub, agent, str(exc))
            return
        self.execute(agent, label, agent_values, teacher_values)

    def execute(self, agent: Action, label, agent_values=None, teacher_values=None) -> None:
        """Publish the executed action (the simulator waits on it), then the feedback record;
        ``label`` None: the agent's action runs with no feedback at all (evaluation)."""
        executed_values = agent.values if label is None else label.executed
        executed = action_msg(executed_values, answering=agent, source=Action.SOURCE_EXECUTED)
        agent_list = [] if agent_values is None else list(agent_values)
        self._publish(executed, label, agent_list, teacher_values)

    def _publish(self, executed: Action, label, agent_values, teacher_values) -> None:
        self.executed_pub.publish(executed)
        key = step_key(executed)
        self.pairer.mark_decided(key)
        feedback = None
        if label is not None:
            feedback = feedback_msg(label, answering=executed, agent=agent_values,
                                    teacher=teacher_values, beta_deg=self.arbiter.beta_deg)
            self.feedback_pub.publish(feedback)
            self.counts[FeedbackKind(feedback.kind)] += 1
        if self.observation_sub is not None and key in self.ee:
            self.marker_pub.publish(self.markers(executed, feedback, agent_values,
                                                 teacher_values))

    def markers(self, executed: Action, feedback, agent, teacher) -> MarkerArray:
        origin = self.ee[step_key(executed)]
        out = MarkerArray()
        for i, (values, color) in enumerate(((agent, (0.2, 0.4, 1.0)),
                                             (teacher, (1.0, 0.6, 0.1)))):
            m = Marker(header=executed.header, ns="actions", id=i, type=Marker.ARROW)
            if values is None or len(values) < 3:
                m.action = Marker.DELETE
            else:
                m.points = [origin, Point(x=origin.x + ARROW_M * values[0],
                                          y=origin.y + ARROW_M * values[1],
                                          z=origin.z + ARROW_M * values[2])]
                m.scale = Vector3(x=0.006, y=0.012, z=0.015)
                m.color = ColorRGBA(r=color[0], g=color[1], b=color[2], a=1.0)
            out.markers.append(m)
        text = Marker(header=executed.header, ns="verdict", id=0, type=Marker.TEXT_VIEW_FACING)
        text.pose.position = Point(x=origin.x, y=origin.y, z=origin.z + 0.12)
        text.scale.z = 0.04
        if feedback is None:
            text.text, rgb = "agent only", (0.8, 0.8, 0.8)
        else:
            kind = FeedbackKind(feedback.kind)
            angle = "" if math.isnan(feedback.angle_deg) else f" {feedback.angle_deg:.0f} deg"
            text.text = f"{kind.name.lower()}{angle}"
            rgb = {FeedbackKind.EVALUATIVE: (0.1, 0.9, 0.1),
                   FeedbackKind.CORRECTIVE: (0.95, 0.1, 0.1)}.get(kind, (0.7, 0.7, 0.7))
        text.color = ColorRGBA(r=rgb[0], g=rgb[1], b=rgb[2], a=1.0)
        out.markers.append(text)
        return out


def log_counts(node: ArbiterNode) -> None:
    counts = ", ".join(f"{k.name.lower()} {v}" for k, v in node.counts.items())
    node.get_logger().info(f"decisions: {counts}")


def main(args=None) -> int:
    return run_node("arbiter", ArbiterNode, args, finish=log_counts)


if __name__ == "__main__":
    sys.exit(main())
