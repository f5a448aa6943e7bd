"""teacher: runs the task's CodePolicy on every observation and publishes the teacher action.

Which CodePolicy (parameter ``policy_source``: auto, cache, generate, reference or a file) is
decided by ``iteach_ros.teacher.service``; with ``generate`` the LLM (``llm_config``) writes
it at start-up when the cache has none, its progress on the node's log. Its source is published
on a latched topic for inspection. The GeneratePolicy service generates anew (``regenerate``)
or reloads; it runs in the service callback, so the node serves no teacher actions meanwhile.
Generated code runs in the sandbox, in a worker process by default (parameter ``sandbox``): a
failing step is published as an Action with ``error`` set, never a crash. A worker that dies or
overruns fails the rest of its episode (the Action says ``episode_failed``, the log says it
once) and the next episode runs in a fresh worker. Its per-episode state
(``interaction.lockstep.TeacherStream``) restarts with each episode, and a republished
observation gets the same answer.

With ``perceived_objects`` the CodePolicy reads object states from the perception node
(``perceived_objects``, paired with each observation by stamp) instead of the observation's
privileged ones; the gripper and the gripped flags stay the robot's own
(``core.perception.merge_perceived``). A step waits until its estimate is in.

In the 7-D action mode (``action_mode: 7d``) a CodePolicy's 4-D action gains a zero rotation
(``core.actions.in_action_space``, as in one process): the teacher holds the tool's
orientation.
"""

from __future__ import annotations

import json
import sys

from rclpy.node import Node
from std_msgs.msg import String

from iteach_ros.core import ACTION_DIMS
from iteach_ros.core.actions import in_action_space
from iteach_ros.core.perception import merge_perceived
from iteach_ros.core.tasks import task_info
from iteach_ros.interaction.lockstep import StampPairer, TeacherStream, episode_of
from iteach_ros.msg import Action, Observation
from iteach_ros.ros import interfaces as topics
from iteach_ros.ros.conversions import (
    MessageError,
    action_msg,
    object_array_from_msg,
    objects_from_msg,
    stamp_key,
    step_key,
)
from iteach_ros.ros.node_support import declare_from_graph, run_node
from iteach_ros.teacher.llm import LLMConfig, load_llm_config
from iteach_ros.teacher.service import obtain_policy


class TeacherNode(Node):
    def __init__(self):
        super().__init__("teacher")
        self.params = declare_from_graph(self, "teacher")
        self.action_pub = topics.TEACHER_ACTION.publisher(self)
        self.source_pub = topics.CODEPOLICY_SOURCE.publisher(self)
        self.observation_sub = topics.OBSERVATION.subscription(self, self.observation_callback)
        self.generate_srv = topics.GENERATE_POLICY.server(self, self.generate_callback)
        self.pairer = None
        if self.params.perceived_objects:
            self.graspable = task_info(self.params.task).graspable
            self.pairer = StampPairer(("observation", "objects"))
            self.perceived_sub = topics.PERCEIVED_OBJECTS.subscription(
                self, self.perceived_callback)
        self.policy = None
        self.obtained = None
        self.stream: TeacherStream | None = None
        self.failed_episode = None  # (run, episode) whose teacher failure was logged
        self.load(self.params.policy_source)

    def llm(self) -> LLMConfig:
        return load_llm_config(self.params.llm_config) if self.params.llm_config else LLMConfig()

    def load(self, source: str, regenerate: bool = False) -> str:
        log = self.get_logger()
        self.obtained = obtain_policy(self.params.task, source, llm=self.llm(),
                                      regenerate=regenerate, progress=log.info)
        policy = self.obtained.executor(sandbox=self.params.sandbox)
        old, self.policy, self.stream = self.policy, policy, TeacherStream(policy)
        if old is not None:
            old.close()
        self.source_pub.publish(String(data=self.policy.source))
        where = "" if self.obtained.origin == "reference" else f", sandbox {self.params.sandbox}"
        message = (f"CodePolicy for {self.params.task} from {source}: {self.obtained.origin}"
                   + (f" ({self.obtained.path})" if self.obtained.path else "") + where)
        log.info(message)
        return message

    def destroy_node(self):
        if self.policy is not None:
            self.policy.close()
        return super().destroy_node()

    def observation_callback(self, msg: Observation) -> None:
        if msg.evaluation:  # the learner acts alone
            return
        if self.pairer is None:
            self.answer(msg)
        else:
            self.answer_pair(self.pairer.offer("observation", stamp_key(msg.header.stamp), msg))

    def perceived_callback(self, msg) -> None:
        self.answer_pair(self.pairer.offer("objects", stamp_key(msg.header.stamp), msg))

    def answer_pair(self, pair: dict | None) -> None:
        if pair is not None:
            self.answer(pair["observation"], pair["objects"])

    def answer(self, msg: Observation, perceived=None) -> None:
        try:
            objects = objects_from_msg(msg)
            if perceived is not None:
                objects = merge_perceived(objects, object_array_from_msg(perceived),
                                          self.graspable)
        except MessageError as exc:
            action, error = None, f"bad observation: {exc}"
        else:
            key = step_key(msg)
            action, error = self.stream.act(key, objects)
            if action is not None:  # a 4-D CodePolicy in the 7-D mode: holds the orientation
                action = in_action_space(action, ACTION_DIMS[self.params.action_mode])
            if self.stream.episode_failed and self.failed_episode != episode_of(key):
                self.failed_episode = episode_of(key)  # said once per episode
                self.get_logger().error(f"episode {msg.episode} step {msg.step}: the teacher "
                                        f"failed for the rest of the episode: {error}")
        if action is None:
            self.get_logger().warn(f"episode {msg.episode} step {msg.step}: teacher error: "
                                   f"{error}", throttle_duration_sec=2.0)
            action = []
        self.action_pub.publish(action_msg(action, answering=msg, source=Action.SOURCE_TEACHER,
                                           error=error,
                                           episode_failed=bool(self.stream.episode_failed)))

    def generate_callback(self, request, response):
        if request.task and request.task != self.params.task:
            response.success = False
            response.message = f"this teacher serves {self.params.task!r}, not {request.task!r}"
            return response
        try:
            # regenerate: written anew by the configured LLM (validated, cached when accepted)
            source = "generate" if request.regenerate else self.params.policy_source
            response.message = self.load(source, regenerate=request.regenerate)
            response.success = True
            response.source = self.policy.source
            response.provenance_json = json.dumps(
                {"task": self.params.task, "source": source, "origin": self.obtained.origin,
                 **self.obtained.provenance}, default=str)
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            response.success, response.message = False, f"{type(exc).__name__}: {exc}"
        return response


def main(args=None) -> int:
    return run_node("teacher", TeacherNode, args)


if __name__ == "__main__":
    sys.exit(main())
