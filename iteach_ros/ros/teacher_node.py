"""teacher: runs the task's CodePolicy on every observation and publishes the teacher action.

The CodePolicy comes from the reference program, the policy cache or a file (parameter
``policy_source``); its source is published on a latched topic for inspection. Generated code
runs in the sandbox: a failing step is published as an Action with ``error`` set, never a crash.
"""

from __future__ import annotations

import json
import sys

from rclpy.node import Node
from std_msgs.msg import String

from iteach_ros.codepolicy.teachers import make_teacher
from iteach_ros.msg import Action, Observation
from iteach_ros.ros import interfaces as io
from iteach_ros.ros.conversions import action_msg, objects_from_msg
from iteach_ros.ros.node_support import declare_from_graph, run_node


class TeacherNode(Node):
    def __init__(self):
        super().__init__("teacher")
        self.params = declare_from_graph(self, "teacher")
        self.action_pub = self.create_publisher(io.TEACHER_ACTION.type, io.TEACHER_ACTION.name,
                                                io.TEACHER_ACTION.qos)
        self.source_pub = self.create_publisher(io.CODEPOLICY_SOURCE.type,
                                                io.CODEPOLICY_SOURCE.name,
                                                io.CODEPOLICY_SOURCE.qos)
        self.observation_sub = self.create_subscription(
            io.OBSERVATION.type, io.OBSERVATION.name, self.observation_callback,
            io.OBSERVATION.qos)
        self.generate_srv = self.create_service(io.GENERATE_POLICY.type, io.GENERATE_POLICY.name,
                                                self.generate_callback)
        self.policy = None
        self.episode = None
        self.errors = 0
        self.load(self.params.policy_source)

    def load(self, source: str) -> str:
        self.policy = make_teacher(self.params.task, source)
        self.episode = None
        self.source_pub.publish(String(data=self.policy.source))
        message = f"CodePolicy for {self.params.task} from {source}"
        self.get_logger().info(message)
        return message

    def observation_callback(self, msg: Observation) -> None:
        if msg.episode != self.episode:  # a new episode: the state machine starts over
            self.policy.reset()
            self.episode = msg.episode
        try:
            teacher = self.policy.step(objects_from_msg(msg))
            out = action_msg(teacher.action, header=msg.header, episode=msg.episode,
                             step=msg.step, source=Action.SOURCE_TEACHER)
        except Exception as exc:  # noqa: BLE001 - sandbox faults are reported, not raised
            self.errors += 1
            self.get_logger().warn(f"episode {msg.episode} step {msg.step}: teacher error: "
                                   f"{exc}", throttle_duration_sec=2.0)
            out = action_msg([], header=msg.header, episode=msg.episode, step=msg.step,
                             source=Action.SOURCE_TEACHER, error=str(exc) or type(exc).__name__)
        self.action_pub.publish(out)

    def generate_callback(self, request, response):
        if request.task and request.task != self.params.task:
            response.success = False
            response.message = f"this teacher serves {self.params.task!r}, not {request.task!r}"
            return response
        try:
            source = self.params.policy_source
            if request.regenerate:  # generation through the configured LLM, into the cache
                from iteach_ros.teacher.cli import main as teacher_cli

                rc = teacher_cli(["generate", "--task", self.params.task])
                if rc != 0:
                    raise RuntimeError(f"generation exited with status {rc}")
                source = "cache"
            response.message = self.load(source)
            response.success = True
            response.source = self.policy.source
            response.provenance_json = json.dumps({"task": self.params.task, "source": source})
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            response.success, response.message = False, f"{type(exc).__name__}: {exc}"
        return response


def main(args=None) -> int:
    return run_node("teacher", TeacherNode, args)


if __name__ == "__main__":
    sys.exit(main())
