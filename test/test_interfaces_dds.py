"""Every custom interface crosses a process boundary over real DDS (loopback, own domain id) with
every field intact. The peer process stands for another node of the graph."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
from rclpy.node import Node  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from msg_samples import differences, sample_messages, sample_service_pairs  # noqa: E402

HERE = Path(__file__).parent
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
PREFIX = f"/iteach_test_{os.getpid()}"
TIMEOUT_S = 30.0

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def peer():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(HERE / "msg_peer.py"), "--prefix", PREFIX],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "peer ready"
    yield proc
    proc.stdin.close()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def node(peer):
    rclpy.init()
    node = Node("interface_roundtrip_test")
    yield node
    node.destroy_node()
    rclpy.shutdown()


def test_environment_is_loopback_only():
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 0 <= int(os.environ["ROS_DOMAIN_ID"]) <= 101


def test_every_message_survives_another_process(node, peer):
    samples = sample_messages()
    received = {}
    for key, msg in samples.items():
        node.create_subscription(type(msg), f"{PREFIX}/{key}",
                                 lambda m, key=key: received.setdefault(key, m), LATCHED)
    deadline = time.monotonic() + TIMEOUT_S
    while len(received) < len(samples) and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    assert sorted(received) == sorted(samples), "messages never arrived"
    for key, expected in samples.items():
        assert type(received[key]) is type(expected)
        assert differences(expected, received[key]) == [], key


def test_every_service_round_trips(node, peer):
    for key, (srv_type, request, expected) in sample_service_pairs().items():
        client = node.create_client(srv_type, f"{PREFIX}/{key}")
        assert client.wait_for_service(timeout_sec=TIMEOUT_S), f"{key} never appeared"
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, timeout_sec=TIMEOUT_S)
        response = future.result()
        assert response is not None, f"{key}: no response"
        assert differences(expected, response) == [], f"{key}: {response.message}"


def test_comparison_detects_a_changed_field():
    # Guards the round-trip checks above against a comparator that always agrees.
    a, b = sample_messages()["observation"], sample_messages()["observation"]
    b.objects[1].normal.y = 0.5
    b.joint_positions = list(b.joint_positions)[:6]
    assert differences(a, b) == [".objects[1].normal.y: -1.0 != 0.5",
                                 ".joint_positions: length 7 != 6"]
