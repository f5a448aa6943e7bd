"""The perception node over real DDS: sim_bridge publishes its camera's depth, labels and
camera_info (the pose on tf_static), the perception node estimates the objects from them alone,
and the teacher (perceived_objects) presses the button from those estimates: an episode that
succeeds with no privileged object state reaching the CodePolicy."""

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.node import Node  # noqa: E402

from iteach_ros.msg import Action, EpisodeEvent  # noqa: E402
from iteach_ros.ros import interfaces as topics  # noqa: E402
from iteach_ros.ros.conversions import (  # noqa: E402
    LABELS_ENCODING,
    MessageError,
    object_array_from_msg,
    plane_from_msg,
    plane_to_msg,
)
from ros_monitor import nodes_in_this_process  # noqa: E402

pytestmark = pytest.mark.ros
SEED = 900_000


class Arbiter(Node):
    """Executes the teacher's action as it is (an arbiter with no agent) and records."""

    def __init__(self):
        super().__init__("test_arbiter")
        self.executed = topics.EXECUTED_ACTION.publisher(self)
        self.perceived, self.events, self.errors = [], [], []
        self.observations = {}
        topics.OBSERVATION.subscription(self, self._obs)
        topics.TEACHER_ACTION.subscription(self, self._teacher)
        topics.PERCEIVED_OBJECTS.subscription(self, self.perceived.append)
        topics.EPISODE_EVENT.subscription(self, self.events.append)

    def _obs(self, msg):
        self.observations[msg.step] = msg

    def _teacher(self, msg):
        if msg.error:
            self.errors.append(msg.error)
            return
        self.executed.publish(Action(run_id=msg.run_id, episode=msg.episode, step=msg.step,
                                     source=Action.SOURCE_EXECUTED, values=list(msg.values)))


def test_the_teacher_presses_the_button_from_the_perception_node_alone():
    from iteach_ros.ros.perception_node import PerceptionNode
    from iteach_ros.ros.sim_bridge_node import SimBridgeNode
    from iteach_ros.ros.teacher_node import TeacherNode
    from iteach_ros.sim import make_env

    params = ["--ros-args", "-p", "task:=push_button", "-p", "render_wrist:=false", "-p",
              "episodes:=1", "-p", f"seed:={SEED}", "-p", "min_subscribers:=1", "-p",
              "start_delay_s:=0.1", "-p", "pace:=free", "-p", "perception_camera:=true", "-p",
              "perceived_objects:=true", "-p", "policy_source:=reference"]
    with nodes_in_this_process(lambda: (SimBridgeNode(), PerceptionNode(), TeacherNode(),
                                        Arbiter()), params) as ((sim, perception, _, arb),
                                                                spin_until):
        done = spin_until(lambda: any(e.event != EpisodeEvent.STARTED for e in arb.events),
                          timeout=120.0)
        assert done, f"no episode end; {perception.frames_done} frames perceived"
        end = [e for e in arb.events if e.event != EpisodeEvent.STARTED][0]
        assert end.event == EpisodeEvent.SUCCEEDED, end.reason
        assert not arb.errors
        # one estimate per step, at each observation's stamp
        stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in arb.perceived}
        assert {(o.header.stamp.sec, o.header.stamp.nanosec)
                for o in arb.observations.values()} <= stamps
        first = object_array_from_msg(arb.perceived[0])["button"][0]
    with make_env("push_button", render_wrist=False) as env:
        true = env.reset(seed=SEED)[0].objects["button"].position
    assert 0 < np.linalg.norm(first - true) < 0.02  # estimated, not the simulator's


def test_planes_round_trip_and_malformed_ones_are_refused():
    labels = np.arange(12, dtype=np.uint16).reshape(3, 4)
    msg = plane_to_msg(labels, LABELS_ENCODING, Time(sec=1), "perception_camera")
    np.testing.assert_array_equal(plane_from_msg(msg, LABELS_ENCODING), labels)
    with pytest.raises(MessageError, match="32FC1"):
        plane_from_msg(msg, "32FC1")
    msg.data = msg.data[:-2]
    with pytest.raises(MessageError, match="pixels"):
        plane_from_msg(msg, LABELS_ENCODING)


def test_perceived_objects_that_are_not_finite_or_not_unit_are_refused():
    from iteach_ros.ros.conversions import object_array_to_msg

    good = object_array_to_msg({"lid": (np.array([0.1, 0.2, 0.8]), np.array([0.0, 0.0, 1.0]))},
                               Time(sec=2))
    assert set(object_array_from_msg(good)) == {"lid"}
    good.objects[0].pose.position.x = float("nan")
    with pytest.raises(MessageError, match="not finite"):
        object_array_from_msg(good)
    good.objects[0].pose.position.x = 0.1
    good.objects[0].normal.z = 2.0
    with pytest.raises(MessageError, match="unit"):
        object_array_from_msg(good)


def test_the_camera_pose_composes_static_transforms_up_to_the_world():
    from iteach_ros.ros.perception_node import static_pose

    rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90 deg about z
    transforms = {"mount": ("world", rz, np.array([1.0, 0.0, 0.0])),
                  "cam": ("mount", np.eye(3), np.array([0.0, 0.5, 0.0]))}
    rotation, translation = static_pose(transforms, "cam", "world")
    np.testing.assert_allclose(rotation, rz)
    np.testing.assert_allclose(translation, [0.5, 0.0, 0.0])
    with pytest.raises(KeyError, match="elsewhere"):
        static_pose(transforms, "elsewhere", "world")


def test_without_perceived_objects_the_teacher_does_not_answer():
    """The teacher waits for the estimate of each step: it never falls back to the
    observation's privileged objects."""
    from iteach_ros.ros.sim_bridge_node import SimBridgeNode
    from iteach_ros.ros.teacher_node import TeacherNode

    params = ["--ros-args", "-p", "task:=push_button", "-p", "render_wrist:=false", "-p",
              "episodes:=1", "-p", f"seed:={SEED}", "-p", "min_subscribers:=1", "-p",
              "start_delay_s:=0.1", "-p", "pace:=free", "-p", "perceived_objects:=true", "-p",
              "policy_source:=reference", "-p", "action_timeout_s:=60.0"]
    answers = []
    with nodes_in_this_process(lambda: (SimBridgeNode(), TeacherNode(), Arbiter()),
                               params) as ((_, teacher, arb), spin_until):
        topics.TEACHER_ACTION.subscription(arb, answers.append)
        assert spin_until(lambda: arb.observations, timeout=20.0)
        assert not spin_until(lambda: answers, timeout=3.0)
        assert len(teacher.pairer.items["observation"]) == 1  # held, waiting for its estimate
