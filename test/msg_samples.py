"""Fully populated instances of every iteach_ros interface, and a field-by-field comparison.

Used by the cross-process round-trip tests: publisher and subscriber build the same samples, so
a field that does not survive DDS shows up as a named mismatch.
"""

import math

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import Header

from iteach_ros.msg import (
    Action,
    EpisodeEvent,
    Feedback,
    ObjectState,
    ObjectStateArray,
    Observation,
    TrainingStatus,
)
from iteach_ros.srv import GeneratePolicy, ResetEpisode


def _header(step: int) -> Header:
    return Header(stamp=Time(sec=12, nanosec=345_000_000 + step), frame_id="world")


def _object(name: str, k: float, closed: bool = False) -> ObjectState:
    return ObjectState(
        name=name,
        pose=Pose(position=Point(x=0.1 * k, y=-0.2 * k, z=0.75 + k),
                  orientation=Quaternion(x=0.0, y=0.70710678, z=0.0, w=0.70710678)),
        normal=Vector3(x=0.0, y=-1.0, z=0.0), gripped=k > 1, can_be_gripped=True, closed=closed)


def sample_messages() -> dict:
    """Topic suffix -> message; every field holds a non-default value."""
    objects = [_object("gripper", 0.5, closed=True), _object("microwave door", 1.5)]
    return {
        "object_state": _object("button", 2.0),
        "object_state_array": ObjectStateArray(header=_header(9),
                                               objects=[_object("lid", 0.25), _object("bin", 3.0)]),
        "observation": Observation(
            header=_header(3), run_id=2**63 - 5, episode=7, step=3, task="close_microwave",
            seed=-42, evaluation=True, objects=objects,
            joint_positions=[0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785],
            gripper_opening=0.0375, gripper_closed=True, ee_position=Point(x=0.3, y=0.1, z=1.05)),
        "action": Action(header=_header(4), run_id=12345, episode=7, step=4,
                         source=Action.SOURCE_TEACHER,
                         values=[0.9, 0.0, -0.9, -0.9], error="no error, just a test string"),
        "feedback": Feedback(header=_header(5), run_id=12345, episode=7, step=5,
                             agent_action=[0.5, 0.1, -0.8, 0.9],
                             teacher_action=[0.9, 0.0, -0.9, 0.9],
                             executed_action=[0.5, 0.1, -0.8, 0.9], angle_deg=8.25,
                             beta_deg=20.0, kind=Feedback.KIND_EVALUATIVE, train=True),
        "feedback_nan": Feedback(header=_header(6), episode=7, step=6, agent_action=[0.0] * 4,
                                 teacher_action=[0.9, 0.0, 0.0, -0.9],
                                 executed_action=[0.9, 0.0, 0.0, -0.9], angle_deg=math.nan,
                                 beta_deg=20.0, kind=Feedback.KIND_CORRECTIVE),
        "episode_event": EpisodeEvent(header=_header(7), run_id=12345, episode=7,
                                      task="close_microwave", evaluation=True,
                                      seed=123456789012, event=EpisodeEvent.FAILED,
                                      reason="step limit (200) reached", steps=200),
        "training_status": TrainingStatus(header=_header(8), gradient_steps=604, target_steps=600,
                                          episodes=100, trajectories=110, run_id=777,
                                          last_episode=100, ready=True, training=True),
    }


def sample_service_pairs() -> dict:
    """Service type name -> (type, request, response) with non-default values."""
    return {
        "reset_episode": (
            ResetEpisode,
            ResetEpisode.Request(task="unplug_charger", use_seed=True, seed=99),
            ResetEpisode.Response(success=True, message="episode 3 started", episode=3, seed=99,
                                  run_id=2**63 - 1)),
        "generate_policy": (
            GeneratePolicy,
            GeneratePolicy.Request(task="push_button", regenerate=True),
            GeneratePolicy.Response(success=True, message="2 tries, 96% open-loop success",
                                    source="if current_step == 1:\n    set_done()\n",
                                    provenance_json='{"model": "fake"}')),
    }


def differences(expected, actual, path: str = "") -> list[str]:
    """Names of the fields whose values differ (recursing into nested messages and arrays)."""
    if hasattr(expected, "get_fields_and_field_types"):
        out = []
        for field in expected.get_fields_and_field_types():
            out += differences(getattr(expected, field), getattr(actual, field), f"{path}.{field}")
        return out
    # lists, array('d') and numpy arrays (fixed-size fields), not numpy scalars
    if isinstance(expected, (list, tuple)) or hasattr(expected, "__len__") \
            and hasattr(expected, "tolist"):
        expected, actual = list(expected), list(actual)
        if len(expected) != len(actual):
            return [f"{path}: length {len(expected)} != {len(actual)}"]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual)):
            out += differences(e, a, f"{path}[{i}]")
        return out
    if isinstance(expected, float) and math.isnan(expected):
        same = isinstance(actual, float) and math.isnan(actual)
        return [] if same else [f"{path}: nan != {actual}"]
    return [] if expected == actual else [f"{path}: {expected!r} != {actual!r}"]
