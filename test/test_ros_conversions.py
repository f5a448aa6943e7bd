"""Core data <-> messages: one observation message carries everything a step needs."""

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from iteach_ros.msg import Observation  # noqa: E402
from iteach_ros.ros.conversions import (  # noqa: E402
    MessageError,
    image_from_msg,
    objects_from_msg,
    observation_to_msg,
    proprio_from_msg,
)
from iteach_ros.sim import make_env  # noqa: E402


def test_observation_message_carries_objects_proprio_and_the_wrist_image():
    env = make_env("reach_target", image_size=32)
    obs, _ = env.reset(seed=1)
    env.close()
    msg = observation_to_msg(obs, stamp=Time(sec=3, nanosec=4), episode=2, task="reach_target",
                             seed=1)
    back = deserialize_message(serialize_message(msg), Observation)  # as it crosses DDS
    np.testing.assert_array_equal(image_from_msg(back.wrist_image), obs.wrist_rgb)
    assert back.wrist_image.header.stamp == back.header.stamp
    np.testing.assert_allclose(proprio_from_msg(back), obs.proprio, rtol=1e-6)
    objects = objects_from_msg(back)
    assert set(objects) == set(obs.objects)
    for name, state in obs.objects.items():
        np.testing.assert_allclose(objects[name].position, state.position)


def test_an_observation_without_an_image_is_a_clear_error():
    env = make_env("reach_target", render_wrist=False)
    obs, _ = env.reset(seed=1)
    env.close()
    msg = observation_to_msg(obs, stamp=Time(), episode=1, task="reach_target", seed=1)
    assert msg.wrist_image.height == 0
    with pytest.raises(MessageError, match="no image.*render_wrist"):
        image_from_msg(msg.wrist_image)
    with pytest.raises(MessageError, match="bytes, expected"):
        image_from_msg(Image(height=2, width=2, encoding="rgb8", step=6, data=[1, 2, 3]))


def test_serialized_transforms_are_what_rclpy_serialises():
    """The rewritten bytes of the TF template deserialise to the message built the slow way."""
    from rclpy.serialization import deserialize_message, serialize_message
    from tf2_msgs.msg import TFMessage

    from iteach_ros.ros.conversions import serialized_transforms, transforms_msg

    rng = np.random.default_rng(1)
    parents, children = ["world", "panda_link0", "panda_hand"], ["panda_link0", "panda_link1",
                                                                 "panda_left_finger"]
    template = serialized_transforms(parents, children)
    for sec, nanosec in ((1_700_000_123, 999_999_999), (0, 0), (42, 7)):
        pos = rng.normal(size=(3, 3))
        quat = rng.normal(size=(3, 4))
        stamp = Time(sec=sec, nanosec=nanosec)
        data = template.serialize(stamp, np.hstack([pos, quat]))
        expected = transforms_msg(stamp, parents, children, pos, quat)
        # (not byte for byte: CDR padding bytes are left uninitialised)
        assert len(data) == len(serialize_message(expected))
        assert deserialize_message(data, TFMessage) == expected


def test_serialized_camera_info_carries_the_stamp():
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import CameraInfo

    from iteach_ros.ros.conversions import camera_info_msg, serialized_stamped
    from iteach_ros.sim.frames import CameraIntrinsics

    msg = camera_info_msg(CameraIntrinsics(128, 128, 53.7, 53.7, 63.5, 63.5), Time())
    template = serialized_stamped(msg)
    stamp = Time(sec=12, nanosec=345)
    out = deserialize_message(template.serialize(stamp), CameraInfo)
    msg.header.stamp = stamp
    assert out == msg and len(template.serialize(stamp)) == len(serialize_message(msg))
