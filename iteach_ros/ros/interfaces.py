"""Every topic and service of the node graph: name, type and QoS, each with what it guarantees.

Names are relative, so a pipeline (sim_bridge + teacher + arbiter) runs in a namespace of its
own (``/pipe0/observation``, ...). Nodes, the launcher, the recorder and the tests take names
from here; nothing else spells them.
"""

from __future__ import annotations

from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

try:
    from tf2_msgs.msg import TFMessage
except ImportError as exc:  # the wheels have no tf2_msgs: scripts/setup.sh builds a stand-in
    raise ImportError("tf2_msgs is missing: run scripts/setup.sh (it builds a wire-compatible "
                      "tf2_msgs into the venv where no ROS install provides one)") from exc

from iteach_ros.action import RunEpisodes
from iteach_ros.msg import (
    Action,
    EpisodeEvent,
    Feedback,
    ObjectStateArray,
    Observation,
    TrainingStatus,
)
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
# Transforms with tf2's own QoS, which RViz and every tf2 listener request: /tf reliable,
# volatile, depth 100 (tf2_ros DynamicBroadcasterQoS); /tf_static one latched message holding
# every static transform (StaticBroadcasterQoS), replaced as a whole when it is republished.
TRANSFORMS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
STATIC_TRANSFORMS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                               reliability=ReliabilityPolicy.RELIABLE,
                               durability=DurabilityPolicy.TRANSIENT_LOCAL)


@dataclass(frozen=True)
class Topic:
    name: str  # relative: resolved in the node's namespace
    type: type
    qos: QoSProfile
    doc: str

    def resolved(self, namespace: str = "") -> str:
        """The name inside ``namespace`` (a pipeline's, for a node serving several)."""
        return f"{namespace}/{self.name}" if namespace else self.name

    def publisher(self, node, namespace: str = ""):
        """``node``'s publisher of this topic, with its type and QoS."""
        return node.create_publisher(self.type, self.resolved(namespace), self.qos)

    def subscription(self, node, callback, namespace: str = "", qos: QoSProfile | None = None):
        """``node``'s subscription to this topic (``qos``: instead of the topic's, e.g. a
        deeper history for a passive observer)."""
        return node.create_subscription(self.type, self.resolved(namespace), callback,
                                        self.qos if qos is None else qos)


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
TRAINING_STATUS = Topic("training_status", TrainingStatus, LATEST_RELIABLE,
                        "learner -> sim_bridge (training pace), launcher: gradient steps, "
                        "stored episodes, whether the pipeline's next episode may start")
CODEPOLICY_SOURCE = Topic("codepolicy_source", String, LATEST_RELIABLE,
                          "teacher -> anyone: the CodePolicy in use (latched)")
MARKERS = Topic("arbiter_markers", MarkerArray, VISUAL,
                "arbiter -> RViz: agent arrow, teacher arrow, verdict text")
# Relative like every other name: in a pipeline namespace the frames live on /pipe0/tf, so two
# simulators' identically named frames never meet (RViz there: remap /tf:=tf).
TF = Topic("tf", TFMessage, TRANSFORMS,
           "sim_bridge -> RViz, tf2: the moving frames (arm links, fingers, jointed objects) at "
           "each observation's stamp, published only while subscribed")
TF_STATIC = Topic("tf_static", TFMessage, STATIC_TRANSFORMS,
                  "sim_bridge -> RViz, tf2: frames fixed to their parent (world -> panda_link0, "
                  "panda_hand -> wrist_camera, the objects' points), republished at each "
                  "episode start since the scene is randomised")
CAMERA_INFO = Topic("camera_info", CameraInfo, LATEST_RELIABLE,
                    "sim_bridge -> RViz: the wrist camera's intrinsics, with each wrist image "
                    "while subscribed (image_transport's name beside wrist_image)")
ROBOT_DESCRIPTION = Topic("robot_description", String, LATEST_RELIABLE,
                          "sim_bridge -> RViz RobotModel: URDF of the arm, generated from the "
                          "MJCF (latched, as robot_state_publisher offers it)")
SCENE_DESCRIPTION = Topic("scene_description", String, LATEST_RELIABLE,
                          "sim_bridge -> RViz RobotModel: URDF of the task's other bodies "
                          "(latched; their poses come from TF)")

# Perception (teacher parameter perceived_objects): the simulator as an RGB-D camera with an
# instance segmenter, and the perception node's estimates. Lock-step data like the observation:
# the teacher answers a step only once its estimate is in, so nothing here may be dropped.
PERCEPTION_DEPTH = Topic("perception_camera/depth", Image, LATEST_RELIABLE,
                         "sim_bridge -> perception: the over-shoulder camera's depth (32FC1, "
                         "metres along the optical axis) at each observation's stamp")
PERCEPTION_LABELS = Topic("perception_camera/labels", Image, LATEST_RELIABLE,
                          "sim_bridge -> perception: instance labels (mono16: 0 nothing, i + 1 "
                          "the task's i-th object), with each depth image")
PERCEPTION_CAMERA_INFO = Topic("perception_camera/camera_info", CameraInfo, LATEST_RELIABLE,
                               "sim_bridge -> perception: the camera's intrinsics (latched); "
                               "its pose: the frame's transform from world on tf_static")
PERCEIVED_OBJECTS = Topic("perceived_objects", ObjectStateArray, LATEST_RELIABLE,
                          "perception -> teacher: each object's perceived position (and "
                          "normal), at the images' stamp")

DIAGNOSTICS = Topic("/diagnostics", DiagnosticArray, QoSProfile(depth=10),
                    "learner, sim_bridge -> monitors: training, waiting, refusals (absolute, "
                    "as ROS tools expect)")

ALL_TOPICS = (OBSERVATION, WRIST_IMAGE, JOINT_STATES, OBJECT_POSES, AGENT_ACTION, TEACHER_ACTION,
              EXECUTED_ACTION, FEEDBACK, EPISODE_EVENT, TRAINING_STATUS, CODEPOLICY_SOURCE, MARKERS,
              TF, TF_STATIC, CAMERA_INFO, ROBOT_DESCRIPTION, SCENE_DESCRIPTION, PERCEPTION_DEPTH,
              PERCEPTION_LABELS, PERCEPTION_CAMERA_INFO, PERCEIVED_OBJECTS)


@dataclass(frozen=True)
class Service:
    name: str
    type: type
    doc: str

    def server(self, node, callback):
        """``node``'s server of this service."""
        return node.create_service(self.type, self.name, callback)


RESET_EPISODE = Service("reset_episode", ResetEpisode, "sim_bridge: start a new episode")
# An action: per-episode feedback, the success rate as result (needs episodes: 0, no schedule).
RUN_EPISODES = Service("run_episodes", RunEpisodes, "sim_bridge: run N episodes (training or "
                       "evaluation)")
GENERATE_POLICY = Service("generate_policy", GeneratePolicy,
                          "teacher: load or generate the task's CodePolicy")

WORLD_FRAME = "world"  # frame_id of every pose and action
WRIST_CAMERA_FRAME = "wrist_camera"  # an optical frame: z forward, x right, y down
PERCEPTION_CAMERA_FRAME = "perception_camera"  # the over-shoulder camera, optical, fixed in world
