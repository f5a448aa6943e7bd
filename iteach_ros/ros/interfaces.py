"""Every topic and service of the node graph: name, type and QoS, each with what it guarantees.

Names are relative, so a pipeline (sim_bridge + teacher + arbiter) runs in a namespace of its
own (``/pipe0/observation``, ...). Nodes, the launcher, the recorder and the tests take names
from here; nothing else spells them.
"""

from __future__ import annotations

from dataclasses import dataclass

from geometry_msgs.msg import PoseArray
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from iteach_ros.msg import Action, EpisodeEvent, Feedback, Observation
from iteach_ros.srv import GeneratePolicy, ResetEpisode

# Lock-step data: every message matters, and a node (re)joining mid-episode must get the
# current one at once, so the last value is kept for late joiners.
LATEST_RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Per-step commands: reliable, a few in flight at most (lock-step keeps one per pipeline).
# Kept for late joiners too: a (re)started node's first action is often published before
# discovery has matched it with the subscriber; receivers drop what is stale or already decided.
COMMAND = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Training data: a lost feedback record is lost data; a restarted learner replays the history
# kept here and drops what its journal already holds.
RECORD = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                    reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Episode lifecycle: few messages, late joiners want the recent ones.
EVENTS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=20,
                    reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Visualisation only: losing one costs nothing.
VISUAL = qos_profile_sensor_data


@dataclass(frozen=True)
class Topic:
    name: str  # relative: resolved in the node's namespace
    type: type
    qos: QoSProfile
    doc: str


OBSERVATION = Topic("observation", Observation, LATEST_RELIABLE,
                    "sim_bridge -> teacher, learner (arbiter while its markers are watched): "
                    "object states, proprioception and the wrist image of a step")
WRIST_IMAGE = Topic("wrist_image", Image, LATEST_RELIABLE,
                    "sim_bridge -> RViz: the observation's wrist image, published only while "
                    "subscribed")
JOINT_STATES = Topic("joint_states", JointState, VISUAL,
                     "sim_bridge -> RViz: arm and finger joints")
OBJECT_POSES = Topic("object_poses", PoseArray, VISUAL,
                     "sim_bridge -> RViz: object positions, in the observation's order")
AGENT_ACTION = Topic("agent_action", Action, COMMAND,
                     "learner -> arbiter: the policy's action for an observation")
TEACHER_ACTION = Topic("teacher_action", Action, COMMAND,
                       "teacher -> arbiter: the CodePolicy's action for an observation")
EXECUTED_ACTION = Topic("executed_action", Action, COMMAND,
                        "arbiter -> sim_bridge: the action to run; one per observation")
FEEDBACK = Topic("feedback", Feedback, RECORD,
                 "arbiter -> learner: corrective / evaluative record of each step")
EPISODE_EVENT = Topic("episode_event", EpisodeEvent, EVENTS,
                      "sim_bridge -> learner, arbiter: episode started / succeeded / failed")
CODEPOLICY_SOURCE = Topic("codepolicy_source", String, LATEST_RELIABLE,
                          "teacher -> anyone: the CodePolicy in use (latched)")
MARKERS = Topic("arbiter_markers", MarkerArray, VISUAL,
                "arbiter -> RViz: agent arrow, teacher arrow, verdict text")

ALL_TOPICS = (OBSERVATION, WRIST_IMAGE, JOINT_STATES, OBJECT_POSES, AGENT_ACTION, TEACHER_ACTION,
              EXECUTED_ACTION, FEEDBACK, EPISODE_EVENT, CODEPOLICY_SOURCE, MARKERS)


@dataclass(frozen=True)
class Service:
    name: str
    type: type
    doc: str


RESET_EPISODE = Service("reset_episode", ResetEpisode, "sim_bridge: start a new episode")
GENERATE_POLICY = Service("generate_policy", GeneratePolicy,
                          "teacher: load or generate the task's CodePolicy")

WORLD_FRAME = "world"  # frame_id of every pose and action
WRIST_CAMERA_FRAME = "wrist_camera"
