"""arbiter: pairs the agent's and the teacher's action for the same observation and decides.

For each (episode, step) it publishes exactly one executed action and one feedback record, plus
RViz markers while someone watches them (only then does it subscribe to the observations, for
the end-effector position the arrows start from). A teacher that reports an error leaves the
agent's action to run unlabelled (feedback kind NONE). In ``agent_only`` mode (evaluation) the
agent's action passes straight through and no feedback is published.
"""

from __future__ import annotations

import math
import sys
from collections import OrderedDict

from geometry_msgs.msg import Point, Vector3
from rclpy.node import Node
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from iteach_ros.learning.arbiter import MODES, ArbiterError, FeedbackArbiter, FeedbackKind
from iteach_ros.msg import Action, EpisodeEvent, Feedback
from iteach_ros.ros import interfaces as io
from iteach_ros.ros.conversions import action_msg, action_values, feedback_msg
from iteach_ros.ros.node_support import declare_from_graph, run_node

ARROW_M = 0.08  # marker arrow length for a full-scale action component
KEEP = 256  # recent decided keys remembered to drop duplicates


class ArbiterNode(Node):
    def __init__(self):
        super().__init__("arbiter")
        self.params = p = declare_from_graph(self, "arbiter")
        if p.mode not in MODES + ("agent_only",):
            raise ValueError(f"mode must be one of {MODES + ('agent_only',)}, got {p.mode!r}")
        self.arbiter = FeedbackArbiter(p.beta_deg, "both" if p.mode == "agent_only" else p.mode,
                                       p.gripper_must_agree)
        self.executed_pub = self.create_publisher(io.EXECUTED_ACTION.type,
                                                  io.EXECUTED_ACTION.name, io.EXECUTED_ACTION.qos)
        self.feedback_pub = self.create_publisher(io.FEEDBACK.type, io.FEEDBACK.name,
                                                  io.FEEDBACK.qos)
        self.marker_pub = self.create_publisher(io.MARKERS.type, io.MARKERS.name, io.MARKERS.qos)
        self.agent_sub = self.create_subscription(io.AGENT_ACTION.type, io.AGENT_ACTION.name,
                                                  self.agent_callback, io.AGENT_ACTION.qos)
        self.teacher_sub = self.create_subscription(
            io.TEACHER_ACTION.type, io.TEACHER_ACTION.name, self.teacher_callback,
            io.TEACHER_ACTION.qos)
        self.event_sub = self.create_subscription(io.EPISODE_EVENT.type, io.EPISODE_EVENT.name,
                                                  self.event_callback, io.EPISODE_EVENT.qos)
        # Observations carry the wrist image: received only while markers are watched.
        self.observation_sub = None
        self.visual_timer = self.create_timer(1.0, self.update_visualisation)
        self.pending: dict[tuple[int, int], dict] = {}
        self.decided: OrderedDict[tuple[int, int], None] = OrderedDict()
        self.ee = {}  # (episode, step) -> end-effector point, for the markers
        self.counts = {k: 0 for k in FeedbackKind}
        self.get_logger().info(f"beta {p.beta_deg:g} deg, mode {p.mode}")

    def update_visualisation(self) -> None:
        watched = self.marker_pub.get_subscription_count() > 0
        if watched and self.observation_sub is None:
            self.observation_sub = self.create_subscription(
                io.OBSERVATION.type, io.OBSERVATION.name, self.observation_callback,
                io.OBSERVATION.qos)
        elif not watched and self.observation_sub is not None:
            self.destroy_subscription(self.observation_sub)
            self.observation_sub, self.ee = None, {}

    def observation_callback(self, msg) -> None:
        self.ee = {(msg.episode, msg.step): msg.ee_position}

    def event_callback(self, msg) -> None:
        if (msg.event == EpisodeEvent.STARTED and self.decided
                and msg.episode <= next(reversed(self.decided))[0]):
            self.decided.clear()  # a restarted simulator counts episodes from 1 again

    def agent_callback(self, msg: Action) -> None:
        if self.params.mode == "agent_only":
            self.execute_agent(msg)
            return
        self._arrive(msg, "agent")

    def teacher_callback(self, msg: Action) -> None:
        if self.params.mode != "agent_only":
            self._arrive(msg, "teacher")

    def _arrive(self, msg: Action, role: str) -> None:
        key = (msg.episode, msg.step)
        if key in self.decided or (self.decided and key < next(reversed(self.decided))):
            return  # already decided, or older than the last decision: a replay
        slot = self.pending.setdefault(key, {})
        slot[role] = msg
        if "agent" in slot and "teacher" in slot:
            del self.pending[key]
            self.decide(slot["agent"], slot["teacher"])
        # Anything older than this step of this episode can never be completed.
        for old in [k for k in self.pending if k < key]:
            self.get_logger().warn(f"dropping unpaired action(s) for episode {old[0]} step "
                                   f"{old[1]}: {sorted(self.pending[old])}")
            del self.pending[old]

    def decide(self, agent: Action, teacher: Action) -> None:
        agent_values = action_values(agent)
        teacher_values = action_values(teacher)
        if agent_values is None:
            self.get_logger().error(f"agent sent an error instead of an action: {agent.error}")
            agent_values = [math.nan] * max(4, len(teacher.values))
        if teacher_values is None:  # no reference: the agent acts, unlabelled
            self.execute_agent(agent)
            return
        try:
            decision = self.arbiter.decide(agent_values, teacher_values)
        except ArbiterError as exc:
            self.get_logger().error(f"teacher action unusable ({exc}); the agent acts")
            self.execute_agent(agent)
            return
        executed = action_msg(decision.executed, header=agent.header, episode=agent.episode,
                              step=agent.step, source=Action.SOURCE_EXECUTED)
        self._publish(executed, lambda: feedback_msg(
            decision, header=agent.header, episode=agent.episode, step=agent.step,
            agent=agent_values, teacher=teacher_values, beta_deg=self.arbiter.beta_deg),
            agent_values, teacher_values)

    def execute_agent(self, agent: Action) -> None:
        """The agent's action runs without a verdict (evaluation, or no usable teacher)."""
        executed = action_msg(agent.values, header=agent.header, episode=agent.episode,
                              step=agent.step, source=Action.SOURCE_EXECUTED)
        feedback = None
        if self.params.mode != "agent_only":
            def feedback():
                return Feedback(header=agent.header, episode=agent.episode, step=agent.step,
                                agent_action=list(agent.values), teacher_action=[],
                                executed_action=list(agent.values), angle_deg=math.nan,
                                beta_deg=self.arbiter.beta_deg, kind=Feedback.KIND_NONE)
        self._publish(executed, feedback, list(agent.values), None)

    def _publish(self, executed: Action, make_feedback, agent_values, teacher_values) -> None:
        """Executed action first (the simulator waits on it), then the feedback record, built
        only now (``make_feedback`` is None where no feedback is given)."""
        self.executed_pub.publish(executed)
        key = (executed.episode, executed.step)
        self.decided[key] = None
        while len(self.decided) > KEEP:
            self.decided.popitem(last=False)
        feedback = None
        if make_feedback is not None:
            feedback = make_feedback()
            self.feedback_pub.publish(feedback)
            self.counts[FeedbackKind(feedback.kind)] += 1
        if self.observation_sub is not None and key in self.ee:
            self.marker_pub.publish(self.markers(executed, feedback, agent_values,
                                                 teacher_values))

    def markers(self, executed: Action, feedback, agent, teacher) -> MarkerArray:
        origin = self.ee[(executed.episode, executed.step)]
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


def print_counts(node: ArbiterNode) -> None:
    counts = ", ".join(f"{k.name.lower()} {v}" for k, v in node.counts.items())
    print(f"arbiter: decisions: {counts}", flush=True)  # rosout is gone after SIGINT


def main(args=None) -> int:
    return run_node("arbiter", ArbiterNode, args, finish=print_counts)


if __name__ == "__main__":
    sys.exit(main())
