"""The frames, URDF descriptions and camera model generated from the MJCF, checked against MuJoCo
itself (no ROS needed): the URDF's forward kinematics put every link where the simulator has its
body, the relative poses compose to the simulator's world poses, and the wrist camera's
intrinsics project scene points onto the pixels where the renderer draws them."""

import xml.etree.ElementTree as ET

import mujoco
import numpy as np
import pytest

from iteach_ros.ros.robot_description import (
    frame_names,
    robot_urdf,
    scene_urdf,
)
from iteach_ros.sim import make_env
from iteach_ros.sim.arm import ARM_BASE_BODY, ARM_JOINTS, FINGER_JOINTS, TCP_SITE
from iteach_ros.sim.frames import OPTICAL_FROM_MUJOCO_CAMERA, quat_multiply

NAMES = dict(arm_base=ARM_BASE_BODY, world="world", camera="wrist_camera", tcp_site=TCP_SITE)


def _rot(q) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _rpy(r, p, y) -> np.ndarray:
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _axis_angle(axis, angle) -> np.ndarray:
    k = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def _pose(pos, rot) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3], t[:3, 3] = rot, pos
    return t


def urdf_forward_kinematics(urdf: str, positions: dict[str, float], root_pose) -> dict:
    """World pose (4x4) of every link from the URDF text alone, joints at ``positions``
    (mimic joints follow their master)."""
    robot = ET.fromstring(urdf)
    joints = {j.find("child").get("link"): j for j in robot.findall("joint")}
    poses = {}

    def pose_of(link):
        if link in poses:
            return poses[link]
        if link not in joints:
            poses[link] = root_pose
            return root_pose
        j = joints[link]
        origin = j.find("origin")
        local = _pose([float(v) for v in origin.get("xyz").split()],
                      _rpy(*[float(v) for v in origin.get("rpy").split()]))
        name, kind = j.get("name"), j.get("type")
        mimic = j.find("mimic")
        q = (float(mimic.get("multiplier")) * positions[mimic.get("joint")]
             + float(mimic.get("offset"))) if mimic is not None else positions.get(name, 0.0)
        if kind in ("revolute", "continuous", "prismatic"):
            axis = [float(v) for v in j.find("axis").get("xyz").split()]
            motion = (_pose([0, 0, 0], _axis_angle(axis, q)) if kind != "prismatic"
                      else _pose(np.asarray(axis) * q, np.eye(3)))
            local = local @ motion
        poses[link] = pose_of(j.find("parent").get("link")) @ local
        return poses[link]

    for link in robot.findall("link"):
        pose_of(link.get("name"))
    return poses


@pytest.fixture(scope="module")
def moved_env():
    """close_microwave after a few steps: arm away from home, fingers half closed, door moved."""
    env = make_env("close_microwave", render_wrist=False)
    env.reset(seed=3)
    for a in ([1, 0, -1, 1], [0, 1, -1, -1], [0, 1, 0, -1], [-1, 0, 1, 0]):
        env.step(np.array(a, dtype=float))
    # mj_step leaves the body poses of the state before its last integration: recompute them
    # from qpos, which the URDF check reads joint positions from
    mujoco.mj_forward(env.model, env.data)
    yield env
    env.close()


def test_robot_urdf_has_the_panda_links_and_joints(moved_env):
    tree = moved_env.frame_tree()
    robot = ET.fromstring(robot_urdf(tree, frame_names(tree, **NAMES), arm_base=ARM_BASE_BODY))
    links = {link.get("name") for link in robot.findall("link")}
    assert links == {f"panda_link{i}" for i in range(8)} | {
        "panda_hand", "panda_left_finger", "panda_right_finger", "panda_tcp", "wrist_camera"}
    joints = {j.get("name"): j for j in robot.findall("joint")}
    model = moved_env.model
    for i, name in enumerate(ARM_JOINTS, start=1):
        j = joints[f"panda_{name}"]
        assert j.get("type") == "revolute"
        assert (j.find("parent").get("link"), j.find("child").get("link")) == (
            f"panda_link{i - 1}", f"panda_link{i}")
        limit = j.find("limit")
        assert [float(limit.get("lower")), float(limit.get("upper"))] == pytest.approx(
            model.joint(name).range)
        assert float(limit.get("effort")) in (87.0, 12.0)
    first, second = (joints[f"panda_{n}"] for n in FINGER_JOINTS)
    assert first.get("type") == second.get("type") == "prismatic"
    assert first.find("mimic") is None
    assert second.find("mimic").get("joint") == "panda_finger_joint1"
    assert {joints[n].get("type") for n in ("panda_hand_joint", "panda_tcp_joint",
                                            "wrist_camera_joint")} == {"fixed"}
    # a tree: every link but the root is the child of exactly one joint
    children = [j.find("child").get("link") for j in joints.values()]
    assert sorted(children) == sorted(links - {"panda_link0"})


def test_urdf_kinematics_put_every_link_where_mujoco_has_it(moved_env):
    env, model, data = moved_env, moved_env.model, moved_env.data
    tree = env.frame_tree()
    names = frame_names(tree, **NAMES)
    positions = {f"panda_{n}": float(data.qpos[model.joint(n).qposadr[0]])
                 for n in ARM_JOINTS + FINGER_JOINTS[:1]}
    assert positions["panda_finger_joint1"] < 0.039  # the fingers moved
    base = model.body(ARM_BASE_BODY).id
    poses = urdf_forward_kinematics(
        robot_urdf(tree, names, arm_base=ARM_BASE_BODY), positions,
        _pose(data.xpos[base], data.xmat[base].reshape(3, 3)))
    checked = 0
    for frame, name in zip(tree.frames, names):
        if name not in poses:
            continue
        if frame.kind == "body":
            pos, rot = data.xpos[frame_id := model.body(frame.name).id], data.xmat[frame_id]
        elif frame.kind == "site":
            pos, rot = data.site_xpos[model.site(frame.name).id], data.site_xmat[
                model.site(frame.name).id]
        else:  # the optical frame: MuJoCo's camera turned half a turn about x
            c = model.camera(frame.name).id
            pos = data.cam_xpos[c]
            rot = data.cam_xmat[c].reshape(3, 3) @ _rot(OPTICAL_FROM_MUJOCO_CAMERA)
        np.testing.assert_allclose(poses[name][:3, 3], pos, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(poses[name][:3, :3], np.reshape(rot, (3, 3)), atol=1e-6,
                                   err_msg=name)
        checked += 1
    assert checked == 13  # links 0-7, hand, 2 fingers, tcp, camera
    # the mimic joint moves the second finger by as much as the first: they are as far apart as
    # the simulator's finger opening
    apart = np.linalg.norm(poses["panda_left_finger"][:3, 3] - poses["panda_right_finger"][:3, 3])
    assert apart == pytest.approx(env.arm.finger_opening(data), abs=1e-6)


def test_urdf_visuals_sit_where_mujoco_draws_the_geoms(moved_env):
    """Each arm geom's centre and orientation, from the URDF (link pose x visual origin), match
    MuJoCo's; a capsule's end spheres sit half its length along its axis."""
    env, model, data = moved_env, moved_env.model, moved_env.data
    tree = env.frame_tree()
    names = frame_names(tree, **NAMES)
    urdf = robot_urdf(tree, names, arm_base=ARM_BASE_BODY)
    positions = {f"panda_{n}": float(data.qpos[model.joint(n).qposadr[0]])
                 for n in ARM_JOINTS + FINGER_JOINTS[:1]}
    base = model.body(ARM_BASE_BODY).id
    links = urdf_forward_kinematics(urdf, positions,
                                    _pose(data.xpos[base], data.xmat[base].reshape(3, 3)))
    drawn = []  # (world pose, geometry tag) of every visual
    for link in ET.fromstring(urdf).findall("link"):
        for visual in link.findall("visual"):
            origin = visual.find("origin")
            local = _pose([float(v) for v in origin.get("xyz").split()],
                          _rpy(*[float(v) for v in origin.get("rpy").split()]))
            drawn.append((links[link.get("name")] @ local, visual.find("geometry")[0].tag))
    arm = tree.subtree(ARM_BASE_BODY)
    geoms = [g for g in range(model.ngeom) if model.body(model.geom_bodyid[g]).name in arm
             and model.geom_group[g] in (0, 1, 2)]
    expected = []
    for g in geoms:
        rot = data.geom_xmat[g].reshape(3, 3)
        expected.append((data.geom_xpos[g], rot))
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE:
            half = model.geom_size[g][1]
            expected += [(data.geom_xpos[g] + rot[:, 2] * half, rot),
                         (data.geom_xpos[g] - rot[:, 2] * half, rot)]
    assert len(drawn) == len(expected)
    for pos, rot in expected:
        assert any(np.allclose(p[:3, 3], pos, atol=1e-6) and np.allclose(p[:3, :3], rot, atol=1e-6)
                   for p, _ in drawn), f"no visual at {pos}"


def test_relative_poses_compose_to_the_simulators_world_poses(moved_env):
    env, model, data = moved_env, moved_env.model, moved_env.data
    tree = env.frame_tree()
    pos, quat = tree.relative_poses(range(len(tree.frames)))
    world = {}
    for i, frame in enumerate(tree.frames):
        local = _pose(pos[i], _rot(quat[i]))
        world[(frame.kind, frame.name)] = (world[("body", frame.parent)] @ local
                                           if frame.parent else local)
    for b in range(model.nbody):
        np.testing.assert_allclose(world[("body", model.body(b).name)][:3, 3], data.xpos[b],
                                   atol=1e-9)
    for name in ("obj_microwave_door", TCP_SITE):
        s = model.site(name).id
        np.testing.assert_allclose(world[("site", name)][:3, 3], data.site_xpos[s], atol=1e-9)
        np.testing.assert_allclose(world[("site", name)][:3, :3],
                                   data.site_xmat[s].reshape(3, 3), atol=1e-9)
    assert {f.name for f in tree.frames if f.moving} == {
        *(f"link{i}" for i in range(1, 8)), "left_finger", "right_finger", "microwave_door"}


def test_scene_urdf_draws_every_visible_scene_geom(moved_env):
    tree = moved_env.frame_tree()
    names = frame_names(tree, **NAMES)
    scene = ET.fromstring(scene_urdf(tree, names, arm_base=ARM_BASE_BODY, name="scene"))
    links = {link.get("name"): link for link in scene.findall("link")}
    assert set(links) == {"world", "microwave", "microwave_door"}
    assert {j.get("type") for j in scene.findall("joint")} == {"floating"}
    for frame in tree.frames:
        if frame.kind == "body" and names[tree.frames.index(frame)] in links:
            expected = sum(3 if g.kind == "capsule" else 1 for g in frame.geoms)
            assert len(links[frame.name if frame.parent else "world"].findall("visual")) \
                == expected > 0
    colours = {m.get("name"): m.find("color").get("rgba") for m in scene.findall("material")}
    assert "0.55 0.42 0.3 1" in colours.values()  # the table's


def test_frame_names_are_ros_names_and_unique():
    env = make_env("reach_target", render_wrist=False)  # a body and an object both named target
    tree = env.frame_tree()
    names = frame_names(tree, **NAMES)
    by_source = {(f.kind, f.name): n for f, n in zip(tree.frames, names)}
    assert by_source[("body", "world")] == "world"
    assert by_source[("body", "link0")] == "panda_link0"
    assert by_source[("site", TCP_SITE)] == "panda_tcp"
    assert by_source[("camera", "wrist")] == "wrist_camera"
    assert by_source[("body", "target")] == "target"
    assert by_source[("site", "obj_target")] == "obj_target"
    assert len(set(names)) == len(names)
    env.close()


def test_camera_intrinsics_project_points_where_the_renderer_draws_them():
    """Segmentation centroids of the small spheres (tomatoes) against their centres projected
    with K through the optical frame, over six scenes: a principal point half a pixel off
    would shift the mean error by 0.5 px."""
    env = make_env("put_rubbish_in_bin", image_size=128)
    model, data = env.model, env.data
    k = env.camera_intrinsics()
    assert (k.width, k.height, k.cx, k.cy) == (128, 128, 63.5, 63.5)
    tree = env.frame_tree()
    i = tree.index("wrist", "camera")
    hand = model.body(tree.frames[i].parent).id
    cam = model.camera("wrist").id
    renderer = mujoco.Renderer(model, k.height, k.width)
    renderer.enable_segmentation_rendering()
    errors = []
    for seed in range(6):
        env.reset(seed=seed)
        rot = data.cam_xmat[cam].reshape(3, 3) @ _rot(OPTICAL_FROM_MUJOCO_CAMERA)
        # the frame tree's camera frame composes to the same optical frame
        _, q = tree.relative_poses([i])
        np.testing.assert_allclose(data.xmat[hand].reshape(3, 3) @ _rot(
            quat_multiply(q[0], OPTICAL_FROM_MUJOCO_CAMERA)), rot, atol=1e-9)
        renderer.update_scene(data, "wrist")
        seg = renderer.render()
        for g in range(model.ngeom):
            if model.geom_type[g] != mujoco.mjtGeom.mjGEOM_SPHERE:
                continue
            rows, cols = np.nonzero((seg[:, :, 0] == g)
                                    & (seg[:, :, 1] == int(mujoco.mjtObj.mjOBJ_GEOM)))
            # small (perspective barely moves the centroid) and not cut by the border
            if not 10 <= rows.size <= 60 or min(rows.min(), cols.min()) == 0 \
                    or max(rows.max(), cols.max()) == 127:
                continue
            x, y, z = rot.T @ (data.geom_xpos[g] - data.cam_xpos[cam])
            assert z > 0  # in front: the optical z axis looks forward
            errors.append((cols.mean() - (k.fx * x / z + k.cx),
                           rows.mean() - (k.fy * y / z + k.cy)))
    renderer.close()
    env.close()
    errors = np.array(errors)
    assert len(errors) >= 8
    assert np.abs(errors).max() < 0.35
    assert np.abs(errors.mean(axis=0)).max() < 0.15
