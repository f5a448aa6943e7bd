"""TF, CameraInfo and the URDF descriptions from a real sim_bridge process, heard by this test's
node and recorded by a real recorder process: the frames compose to the positions the
observations report, the camera model puts the button's point on the button in the wrist image,
every link of both descriptions and the image's frame resolve to ``world`` from the bag alone,
and the stand-in tf2_msgs is the real one on the wire (same type hash as ROS 2 Jazzy's)."""

import copy
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
pytest.importorskip("tf2_msgs", reason="tf2_msgs missing: run scripts/setup.sh")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402

from iteach_ros.msg import Action  # noqa: E402
from iteach_ros.ros import interfaces as topics  # noqa: E402
from iteach_ros.ros.bag import read_bag, type_hash  # noqa: E402
from iteach_ros.ros.conversions import image_from_msg  # noqa: E402

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[1]
NS = f"/frames_test_{os.getpid()}"  # a pipeline namespace: its frames live on NS/tf
STEPS = 6  # per episode (max_steps), two episodes
TIMEOUT_S = 60.0
SCENE = {"task": "push_button", "image_size": "64", "max_steps": str(STEPS), "episodes": "2",
         "seed": "4", "pace": "free", "min_subscribers": "2", "start_delay_s": "0.5"}
ARM_MOVING = [(f"panda_link{i - 1}", f"panda_link{i}") for i in range(1, 8)] + [
    ("panda_hand", "panda_left_finger"), ("panda_hand", "panda_right_finger")]


def _rot(q) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _stamp(header) -> int:
    return header.stamp.sec * 10**9 + header.stamp.nanosec


class Frames:
    """A minimal tf2 buffer: the latest static transforms, dynamic ones by stamp."""

    def __init__(self):
        self.static, self.dynamic, self.parent = {}, {}, {}

    def add(self, msg, static: bool) -> None:
        for t in msg.transforms:
            tr, ro = t.transform.translation, t.transform.rotation
            pose = np.eye(4)
            pose[:3, :3] = _rot([ro.x, ro.y, ro.z, ro.w])
            pose[:3, 3] = [tr.x, tr.y, tr.z]
            assert abs(np.linalg.norm([ro.x, ro.y, ro.z, ro.w]) - 1.0) < 1e-9
            self.parent[t.child_frame_id] = t.header.frame_id
            if static:
                self.static[t.child_frame_id] = pose
            else:
                self.dynamic.setdefault(t.child_frame_id, {})[_stamp(t.header)] = pose

    def in_world(self, frame: str, stamp: int) -> np.ndarray:
        pose = np.eye(4)
        while frame != topics.WORLD_FRAME:
            local = self.static.get(frame)
            if local is None:
                local = self.dynamic[frame][stamp]  # KeyError: not at this stamp
            pose = local @ pose
            frame = self.parent[frame]
        return pose


class Peer(Node):
    """Plays the arbiter (answers each observation) and RViz (subscribes to the scene)."""

    def __init__(self):
        super().__init__("frames_test_peer")
        self.executed = topics.EXECUTED_ACTION.publisher(self, NS)
        watched = (topics.OBSERVATION, topics.TF, topics.TF_STATIC, topics.CAMERA_INFO,
                   topics.WRIST_IMAGE, topics.ROBOT_DESCRIPTION, topics.SCENE_DESCRIPTION)
        self.got = {t.name: [] for t in watched}
        for topic in watched:
            # A deep history: with the topics' depth 1 a sample not yet taken when the next one
            # arrives would be replaced (the simulator waits only for the executed action).
            qos = copy.copy(topic.qos)
            qos.depth = 1000
            topic.subscription(self, self.got[topic.name].append, NS, qos)
        self.answered = set()

    def answer(self) -> None:
        for obs in self.got[topics.OBSERVATION.name]:
            key = (obs.episode, obs.step)
            if key not in self.answered:
                self.answered.add(key)
                # down and a little sideways, closing the gripper: arm and fingers move
                self.executed.publish(Action(run_id=obs.run_id, episode=obs.episode,
                                             step=obs.step, source=Action.SOURCE_EXECUTED,
                                             values=[0.3, 0.4, -0.6, -1.0]))


def _start(module: str, args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", module, "--ros-args", *args], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two short push_button episodes with this test as arbiter and RViz, recorded."""
    ros_env = dict(os.environ)  # conftest set the DDS domain and discovery range
    tmp = tmp_path_factory.mktemp("frames")
    bag = tmp / "bag"
    recorder = _start("iteach_ros.ros.recorder_node",
                      ["-p", f"output:={bag}", "-p", f"namespaces:=[{NS}]"],
                      tmp / "recorder.log", ros_env)
    sim = _start("iteach_ros.ros.sim_bridge_node",
                 ["-r", f"__ns:={NS}", *[a for k, v in SCENE.items() for a in ("-p", f"{k}:={v}")]],
                 tmp / "sim.log", ros_env)
    rclpy.init()
    peer = Peer()
    executor = SingleThreadedExecutor()
    executor.add_node(peer)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while sim.poll() is None:
            assert time.monotonic() < deadline, (tmp / "sim.log").read_text()
            executor.spin_once(timeout_sec=0.02)
            peer.answer()
        assert sim.returncode == 0, (tmp / "sim.log").read_text()
        for _ in range(20):  # what DDS still holds for us
            executor.spin_once(timeout_sec=0.02)
    finally:
        if sim.poll() is None:
            sim.kill()
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(timeout=20)
        finally:
            if recorder.poll() is None:
                recorder.kill()
        executor.shutdown()
        peer.destroy_node()
        rclpy.try_shutdown()
    assert recorder.returncode == 0, (tmp / "recorder.log").read_text()
    return peer.got, bag


def test_descriptions_name_the_frames_tf_carries(run):
    got, _ = run
    robot = ET.fromstring(got[topics.ROBOT_DESCRIPTION.name][-1].data)
    assert robot.get("name") == "panda"
    links = {link.get("name") for link in robot.findall("link")}
    assert {"panda_link0", "panda_link7", "panda_hand", "panda_tcp", topics.WRIST_CAMERA_FRAME} \
        <= links
    assert [j.get("name") for j in robot.findall("joint") if j.get("type") == "revolute"] == [
        f"panda_joint{i}" for i in range(1, 8)]
    scene = ET.fromstring(got[topics.SCENE_DESCRIPTION.name][-1].data)
    assert {link.get("name") for link in scene.findall("link")} == {
        topics.WORLD_FRAME, "button_base", "button"}
    static = {(t.header.frame_id, t.child_frame_id) for m in got[topics.TF_STATIC.name]
              for t in m.transforms}
    assert {(topics.WORLD_FRAME, "panda_link0"), ("panda_link7", "panda_hand"),
            ("panda_hand", "panda_tcp"), ("panda_hand", topics.WRIST_CAMERA_FRAME),
            (topics.WORLD_FRAME, "button_base"), ("button", "obj_button")} <= static
    moving = {(t.header.frame_id, t.child_frame_id) for m in got[topics.TF.name]
              for t in m.transforms}
    assert moving == set(ARM_MOVING) | {("button_base", "button")}


def test_frames_compose_to_the_observed_positions(run):
    got, _ = run
    observations = got[topics.OBSERVATION.name]
    assert len(observations) == 2 * STEPS  # steps 0..STEPS-1 of both episodes
    frames = Frames()
    statics = got[topics.TF_STATIC.name]
    assert len(statics) == 2  # one per episode start, the scene re-randomised in between
    bases = [{t.child_frame_id: t for t in m.transforms}["button_base"].transform.translation
             for m in statics]
    assert (bases[0].x, bases[0].y) != (bases[1].x, bases[1].y)
    for m in got[topics.TF.name]:
        frames.add(m, static=False)
    frames.add(statics[-1], static=True)
    last_episode = [o for o in observations if o.episode == observations[-1].episode]
    tcp_track = []
    for obs in last_episode:  # every observation has its frames at its own stamp
        stamp = _stamp(obs.header)
        objects = {o.name: o.pose.position for o in obs.objects}
        for name, frame in (("gripper", "panda_tcp"), ("button", "obj_button")):
            p = objects[name]
            np.testing.assert_allclose(frames.in_world(frame, stamp)[:3, 3], [p.x, p.y, p.z],
                                       atol=1e-9, err_msg=f"{frame} at step {obs.step}")
        tcp_track.append(frames.in_world("panda_tcp", stamp)[:3, 3])
    assert tcp_track[-1][2] < tcp_track[0][2] - 0.02  # the hand went down, TF followed


def test_camera_info_matches_the_wrist_image_and_projects_onto_the_button(run):
    got, _ = run
    images = {_stamp(m.header): m for m in got[topics.WRIST_IMAGE.name]}
    infos = got[topics.CAMERA_INFO.name]
    assert infos and {_stamp(i.header) for i in infos} <= set(images)
    info = infos[-1]
    image = images[_stamp(info.header)]
    assert info.header.frame_id == image.header.frame_id == topics.WRIST_CAMERA_FRAME
    assert (info.width, info.height) == (image.width, image.height) == (64, 64)
    fx, _, cx, _, fy, cy, _, _, one = info.k
    assert (cx, cy, one) == (31.5, 31.5, 1.0) and fx == fy > 0
    assert info.distortion_model == "plumb_bob" and not any(info.d)
    # the button's point (the cap's top centre, red) through TF and K, in that step's image
    frames = Frames()
    for m in got[topics.TF.name]:
        frames.add(m, static=False)
    frames.add(got[topics.TF_STATIC.name][-1], static=True)
    stamp = _stamp(got[topics.OBSERVATION.name][STEPS].header)  # the last episode's first step
    assert stamp in {_stamp(i.header) for i in infos}
    camera = frames.in_world(topics.WRIST_CAMERA_FRAME, stamp)
    point = np.append(frames.in_world("obj_button", stamp)[:3, 3], 1.0)
    x, y, z = (np.linalg.inv(camera) @ point)[:3]
    assert z > 0.05  # in front of the optical frame
    u, v = fx * x / z + cx, fy * y / z + cy
    rgb = image_from_msg(images[stamp]).astype(int)
    col, row = int(np.floor(u + 0.5)), int(np.floor(v + 0.5))  # pixel centres at integers
    r, g, b = rgb[row, col]
    assert r - max(g, b) > 60, f"not the red cap at ({u:.1f}, {v:.1f}): {rgb[row, col]}"


def test_a_recorded_bag_alone_resolves_every_link_and_the_image_frame(run):
    _, bag = run
    frames, descriptions, image_stamps = Frames(), {}, []
    for topic, _, msg in read_bag(bag):
        name = topic[len(NS) + 1:]
        if name == topics.TF.name:
            frames.add(msg, static=False)
        elif name == topics.TF_STATIC.name:
            frames.add(msg, static=True)
        elif name in (topics.ROBOT_DESCRIPTION.name, topics.SCENE_DESCRIPTION.name):
            descriptions[name] = msg.data
        elif name == topics.WRIST_IMAGE.name:
            image_stamps.append(_stamp(msg.header))
    assert set(descriptions) == {topics.ROBOT_DESCRIPTION.name, topics.SCENE_DESCRIPTION.name}
    stamp = image_stamps[-1]
    links = {link.get("name") for text in descriptions.values()
             for link in ET.fromstring(text).findall("link")}
    for link in links | {topics.WRIST_CAMERA_FRAME}:
        pose = frames.in_world(link, stamp)
        assert np.all(np.isfinite(pose)), link
    metadata = (bag / "metadata.yaml").read_text()
    assert f"{NS}/{topics.CAMERA_INFO.name}" in metadata


def test_the_stand_in_tf2_msgs_has_jazzys_type_hash():
    """rosbags' ROS 2 Jazzy type store computes the real tf2_msgs/msg/TFMessage's hash; the
    installed package (the set-up's stand-in, or a ROS install's) carries the same."""
    from rosbags.typesys import Stores, get_typestore

    expected = get_typestore(Stores.ROS2_JAZZY).hash_rihs01("tf2_msgs/msg/TFMessage")
    assert type_hash("tf2_msgs/msg/TFMessage") == expected
