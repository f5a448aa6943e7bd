"""URDF descriptions of the simulated arm and scene, generated from the MuJoCo model, and the TF
frame names of the simulator (ROS-free: strings in, strings out).

Why URDF from the MJCF rather than markers: RViz's RobotModel display, robot_state_publisher
and every URDF tool read it, the MJCF stays the one source of kinematics and geometry, and a
bag holding the description and TF shows the arm without this package. The Panda is built
from primitives, so every visual is a URDF primitive (a capsule is a cylinder and two spheres).

Frame names (``frame_names``): the world body is ``world``; the arm's bodies are ``panda_`` +
the MJCF name (``panda_link0`` .. ``panda_link7``, ``panda_hand``, ``panda_left_finger``,
``panda_right_finger``), its tool point ``panda_tcp``; the wrist camera is ``wrist_camera``, an
optical frame (z forward, x right, y down, as CameraInfo assumes), so the wrist image's
frame_id is resolvable; the scene's bodies keep their MJCF names and the CodePolicy objects'
points their site names (``obj_button``, ...).

Two descriptions: ``robot_description`` is the arm alone (revolute and prismatic joints with
the MJCF's limits, the second finger a mimic joint), what robot_state_publisher would need;
``scene_description`` holds the task's other bodies under ``world`` with floating joints,
since the simulator randomises even bodies without joints per episode: their poses come from
TF only.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np

from iteach_ros.sim.frames import OPTICAL_FROM_MUJOCO_CAMERA, Frame, FrameTree, quat_multiply

ARM_PREFIX = "panda_"
TCP_FRAME = "panda_tcp"
ROBOT_NAME = "panda"
PLANE_HALF_EXTENT_M = 10.0  # an infinite MuJoCo plane (size 0) is drawn this large


def frame_names(tree: FrameTree, *, arm_base: str, world: str, camera: str,
                tcp_site: str, cameras: dict[str, str] | None = None) -> list[str]:
    """The TF frame name of each of ``tree.frames``, in order (a camera: ``cameras``' name for
    it, else ``camera``); raises on a collision."""
    arm = tree.subtree(arm_base)
    names = []
    for f in tree.frames:
        if f.kind == "body":
            name = (world if not f.parent else ARM_PREFIX + f.name if f.name in arm
                    else f.name)
        elif f.kind == "camera":
            name = (cameras or {}).get(f.name, camera)
        else:
            name = TCP_FRAME if f.name == tcp_site else f.name
        names.append(name)
    seen = set()
    for name, f in zip(names, tree.frames):
        if name in seen:
            raise ValueError(f"TF frame name {name!r} ({f.kind} {f.name!r}) is used twice")
        seen.add(name)
    return names


def _rpy(q) -> tuple[float, float, float]:
    """[x, y, z, w] -> URDF roll, pitch, yaw (fixed axes x, y, z)."""
    x, y, z, w = q
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return roll, pitch, yaw


def _fmt(values) -> str:
    return " ".join(f"{v if abs(v) > 1e-12 else 0.0:.9g}" for v in values)


def _origin(parent: ET.Element, position, quaternion) -> None:
    ET.SubElement(parent, "origin", xyz=_fmt(position), rpy=_fmt(_rpy(quaternion)))


class _Materials:
    """One named URDF material per colour, declared at the top of the robot."""

    def __init__(self, robot: ET.Element):
        self.robot, self.names = robot, {}

    def name(self, rgba) -> str:
        key = tuple(round(float(c), 4) for c in rgba)
        if key not in self.names:
            self.names[key] = f"rgba_{len(self.names)}"
            material = ET.Element("material", name=self.names[key])
            ET.SubElement(material, "color", rgba=_fmt(key))
            self.robot.insert(len(self.names) - 1, material)
        return self.names[key]


def _visuals(link: ET.Element, frame: Frame, materials: _Materials) -> None:
    for g in frame.geoms:
        parts = []  # (geometry tag, attributes, offset along the geom's z)
        sx, sy, sz = g.size
        if g.kind == "box":
            parts.append(("box", {"size": _fmt((2 * sx, 2 * sy, 2 * sz))}, 0.0))
        elif g.kind == "sphere":
            parts.append(("sphere", {"radius": _fmt((sx,))}, 0.0))
        elif g.kind == "cylinder":
            parts.append(("cylinder", {"radius": _fmt((sx,)), "length": _fmt((2 * sy,))}, 0.0))
        elif g.kind == "capsule":
            parts.append(("cylinder", {"radius": _fmt((sx,)), "length": _fmt((2 * sy,))}, 0.0))
            parts += [("sphere", {"radius": _fmt((sx,))}, end) for end in (-sy, sy)]
        elif g.kind == "plane":
            hx, hy = sx or PLANE_HALF_EXTENT_M, sy or PLANE_HALF_EXTENT_M
            parts.append(("box", {"size": _fmt((2 * hx, 2 * hy, 0.001))}, -0.0005))
        else:  # ellipsoids and meshes: no URDF primitive; none in this project's scenes
            link.append(ET.Comment(f" {g.kind} geom not drawn "))
            continue
        rot = _rotation(g.quaternion)
        for tag, attrs, dz in parts:
            visual = ET.SubElement(link, "visual")
            _origin(visual, np.asarray(g.position) + rot[:, 2] * dz, g.quaternion)
            ET.SubElement(ET.SubElement(visual, "geometry"), tag, attrs)
            ET.SubElement(visual, "material", name=materials.name(g.rgba))


def _rotation(q) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _joint(robot, name, kind, parent, child, position, quaternion) -> ET.Element:
    joint = ET.SubElement(robot, "joint", name=name, type=kind)
    ET.SubElement(joint, "parent", link=parent)
    ET.SubElement(joint, "child", link=child)
    _origin(joint, position, quaternion)
    return joint


def robot_urdf(tree: FrameTree, names: list[str], *, arm_base: str) -> str:
    """The arm below ``arm_base`` (bodies, its sites and cameras) as a URDF string.

    Efforts are the actuators' force ranges; URDF requires velocity limits, which the MJCF does
    not hold: they are written as 0."""
    arm = tree.subtree(arm_base)
    name_of = {(f.kind, f.name): n for f, n in zip(tree.frames, names)}
    joint_names = {j.name: ARM_PREFIX + j.name for f in tree.frames if f.name in arm
                   for j in f.joints}
    mimics = _mimics([j for f in tree.frames if f.name in arm for j in f.joints])
    robot = ET.Element("robot", name=ROBOT_NAME)
    materials = _Materials(robot)
    for frame in tree.frames:
        in_arm = frame.name in arm if frame.kind == "body" else frame.parent in arm
        if not in_arm:
            continue
        link_name = name_of[(frame.kind, frame.name)]
        link = ET.SubElement(robot, "link", name=link_name)
        _visuals(link, frame, materials)
        if frame.kind == "body" and frame.name == arm_base:
            continue  # the root link: mounted on the world by TF (world -> panda_link0)
        parent = name_of[("body", frame.parent)]
        quat = np.asarray(frame.offset_quaternion)
        if frame.kind == "camera":
            quat = quat_multiply(quat, OPTICAL_FROM_MUJOCO_CAMERA)
        if not frame.joints:
            _joint(robot, f"{link_name}_joint", "fixed", parent, link_name,
                   frame.offset_position, quat)
            continue
        if len(frame.joints) > 1 or frame.joints[0].kind not in ("hinge", "slide"):
            raise ValueError(f"arm body {frame.name!r}: only one hinge or slide joint per "
                             f"body has a URDF joint")
        j = frame.joints[0]
        if any(j.anchor) or j.reference:
            raise ValueError(f"arm joint {j.name!r}: URDF joints need the joint at the body's "
                             f"origin and reference 0 (pos {j.anchor}, ref {j.reference})")
        kind = ("revolute" if j.limits else "continuous") if j.kind == "hinge" else "prismatic"
        joint = _joint(robot, joint_names[j.name], kind, parent, link_name,
                       frame.offset_position, quat)
        ET.SubElement(joint, "axis", xyz=_fmt(j.axis))
        if j.limits:
            ET.SubElement(joint, "limit", lower=_fmt(j.limits[:1]), upper=_fmt(j.limits[1:]),
                          effort=_fmt((j.effort,)), velocity="0")
        if j.name in mimics:
            master, multiplier, offset = mimics[j.name]
            ET.SubElement(joint, "mimic", joint=joint_names[master],
                          multiplier=_fmt((multiplier,)), offset=_fmt((offset,)))
    return _to_string(robot)


def _mimics(joints) -> dict[str, tuple[str, float, float]]:
    """follower -> (master, multiplier, offset), the master being the joint declared first
    (joint states name it): MuJoCo's q_a = a1 q_b + a0 with a declared first is
    q_b = q_a / a1 - a0 / a1."""
    order = {j.name: i for i, j in enumerate(joints)}
    out = {}
    for j in joints:
        if j.mimic is None or j.mimic[0] not in order or j.mimic[1] == 0.0:
            continue
        other, a1, a0 = j.mimic
        if order[other] < order[j.name]:
            out[j.name] = (other, a1, a0)
        else:
            out[other] = (j.name, 1.0 / a1, -a0 / a1)
    return out


def scene_urdf(tree: FrameTree, names: list[str], *, arm_base: str, name: str) -> str:
    """Every body not of the arm (the world's own geometry on the ``world`` link) as a URDF
    string; each body hangs from its parent by a floating joint (poses come from TF)."""
    arm = tree.subtree(arm_base)
    name_of = {(f.kind, f.name): n for f, n in zip(tree.frames, names)}
    robot = ET.Element("robot", name=name)
    materials = _Materials(robot)
    for frame in tree.frames:
        if frame.kind != "body" or frame.name in arm:
            continue
        link_name = name_of[("body", frame.name)]
        _visuals(ET.SubElement(robot, "link", name=link_name), frame, materials)
        if frame.parent:
            _joint(robot, f"{link_name}_joint", "floating", name_of[("body", frame.parent)],
                   link_name, frame.offset_position, frame.offset_quaternion)
    return _to_string(robot)


def _to_string(robot: ET.Element) -> str:
    ET.indent(robot)
    return '<?xml version="1.0"?>\n' + ET.tostring(robot, encoding="unicode") + "\n"
