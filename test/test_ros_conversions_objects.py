"""Every object attribute a CodePolicy reads survives the observation message (issue 12)."""

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402

from iteach_ros.msg import Observation  # noqa: E402
from iteach_ros.ros.conversions import objects_from_msg, observation_to_msg  # noqa: E402
from iteach_ros.sim import make_env  # noqa: E402


def test_quaternion_gripped_and_joint_positions_cross_the_message():
    env = make_env("close_microwave", render_wrist=False)
    obs, _ = env.reset(seed=2)
    for _ in range(8):  # close the gripper: the gripper object reads gripped and closed
        obs, *_ = env.step([0.0, 0.0, 0.0, -1.0])
    env.close()
    msg = observation_to_msg(obs, stamp=Time(), episode=1, task="close_microwave", seed=2)
    back = objects_from_msg(deserialize_message(serialize_message(msg), Observation))
    for name, state in obs.objects.items():
        got = back[name]
        np.testing.assert_allclose(got.quaternion, state.quaternion)
        np.testing.assert_allclose(got.normal, state.normal)
        assert (got.gripped, got.closed) == (state.gripped, state.closed)
    assert back["gripper"].gripped and back["gripper"].closed
    np.testing.assert_allclose(back["gripper"].joint_positions,
                               obs.objects["gripper"].joint_positions, rtol=1e-6)
    assert back["microwave door"].joint_positions is None
