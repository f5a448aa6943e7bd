"""The CodePolicy API and its executor (ROS-free).

A CodePolicy is a Python program written against a small API (the paper's, docs/paper.md):
``get_object(name)``, ``move_gripper(vec3)``, ``set_gripper(open)``, ``increment_current_step()``,
``set_done()``, ``is_gripper_open()``, ``np`` and the globals ``current_step`` and
``gripper_default_position``. The program is executed once per control step; the executor keeps
``current_step`` and the objects' initial positions between calls.

``move_gripper`` takes a displacement in the world frame (metres), as in the authors' code.
The executor turns the program's request into the paper's 4-D teacher action: each translation
axis becomes -0.9, 0 or +0.9 (dead band 1 cm), the gripper +0.9 (open) or -0.9 (close); a
program that does not touch the gripper keeps its last request (or, before any request, the
gripper's state): fingers still closing must not read as "open" and reopen the hand.

This module compiles the source once and runs the code object each step. It trusts its input:
untrusted (LLM-generated) programs must go through the sandbox first.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import CodeType

import numpy as np

from iteach_ros.core.state import GRIPPER, ObjectState

ACTION_LEVEL = 0.9  # magnitude of a teacher action component (paper: {-1, 0, +1} * 0.9)
DEAD_BAND_M = 0.01  # translation components below this are zeroed (paper: 1 cm)
DEFAULT_POSE_DROP_M = 0.3  # gripper_default_position = start position this far lower


@dataclass(frozen=True)
class ObjectAttribute:
    """One attribute of the objects ``get_object`` returns: the single source of the attribute
    table in docs/simulator.md and of the list in the LLM's API description (``apidoc.py``)."""

    name: str
    objects: str  # which objects carry a meaningful value
    value: str  # type, frame and unit
    meaning: str


# World frame: x forward (away from the robot base), y to the right, z up; metres, radians.
# Conventions follow the RLBench programs of the paper (Tubicor/LLM-iTeach,
# Architecture/src/custom_env.py: EnvObject, Gripper).
OBJECT_ATTRIBUTES: tuple[ObjectAttribute, ...] = (
    ObjectAttribute("name", "all", "str", "the object's name"),
    ObjectAttribute(
        "position", "all", "float[3], world frame, m",
        "the object's point: where the gripper goes to work on it (grasp point, the waypoint "
        "in front of a surface, the point above a container's opening); for the gripper, the "
        "tool point between the fingertips"),
    ObjectAttribute(
        "initial_position", "all", "float[3], world frame, m",
        "`position` when the current step began"),
    ObjectAttribute(
        "normal", "all", "unit float[3], world frame",
        "points away from the object on the side the gripper works from: moving along "
        "+normal pulls or backs away, along -normal pushes or presses in; [0, 0, 1] for "
        "objects worked on from above; for the gripper, from the fingertips to the wrist "
        "([0, 0, 1] while it points down)"),
    ObjectAttribute(
        "quaternion", "all", "float[4] as [x, y, z, w] (scalar last), world frame",
        "orientation of the object's frame (of the tool frame for the gripper)"),
    ObjectAttribute(
        "gripped", "all", "bool",
        "an object: held between both finger pads of the closed gripper; the gripper: "
        "True while it is closed (holding something or not)"),
    ObjectAttribute(
        "can_be_gripped", "objects that can be picked up", "bool",
        "the object's point lies between the open fingers (False for the others and the "
        "gripper)"),
    ObjectAttribute(
        "closed", "gripper", "bool",
        "the gripper was told to close and its fingers have stopped (on an object or on "
        "each other); False for other objects"),
    ObjectAttribute(
        "joint_positions", "gripper", "float[7], rad",
        "the arm's seven joint angles, base to wrist; None for other objects"),
)
OBJECT_ATTRIBUTE_NAMES = tuple(a.name for a in OBJECT_ATTRIBUTES)


class ObjectView:
    """What ``get_object`` returns to a program: a read-only snapshot plus its initial position."""

    __slots__ = OBJECT_ATTRIBUTE_NAMES

    def __init__(self, state: ObjectState, initial_position: np.ndarray):
        self.name = state.name
        self.position = np.array(state.position, dtype=float)
        self.initial_position = np.array(initial_position, dtype=float)
        self.normal = np.array(state.normal, dtype=float)
        self.quaternion = np.array(state.quaternion, dtype=float)
        self.gripped = bool(state.gripped)
        self.can_be_gripped = bool(state.can_be_gripped)
        self.closed = bool(state.closed)
        self.joint_positions = (None if state.joint_positions is None
                                else np.array(state.joint_positions, dtype=float))

    def __repr__(self) -> str:
        return f"<object {self.name!r} at {np.round(self.position, 3).tolist()}>"


class CodePolicyError(RuntimeError):
    """A program asked for something the API cannot give (unknown object, bad vector, ...)."""


def reduce_translation(delta: np.ndarray) -> np.ndarray:
    """Paper's reduction: per axis sign * 0.9, zero inside the 1 cm dead band."""
    delta = np.asarray(delta, dtype=float)
    out = np.sign(delta) * ACTION_LEVEL
    out[np.abs(delta) < DEAD_BAND_M] = 0.0
    return out


@dataclass
class TeacherStep:
    """One executor call: the 4-D teacher action, whether the program said it is done, its step."""

    action: np.ndarray
    done: bool
    current_step: int


class CodePolicyExecutor:
    """Runs a compiled CodePolicy once per control step and keeps its state across calls."""

    def __init__(self, code: CodeType | str, filename: str = "<codepolicy>"):
        self.code = compile(code, filename, "exec") if isinstance(code, str) else code
        self.reset()

    def reset(self) -> None:
        """Forget the episode: next call starts at step 1 with fresh initial positions."""
        self.current_step = 1
        self.done = False
        self.gripper_default_position: np.ndarray | None = None
        self._initial: dict[str, np.ndarray] = {}
        self._objects: dict[str, ObjectState] = {}
        self._lookup: dict[str, str] = {}
        self._gripper_key = GRIPPER
        self._gripper_open_request: bool | None = None  # last set_gripper() of the episode

    def close(self) -> None:
        """Nothing to release (the interface of the sandbox's worker policies)."""

    # ---- API functions handed to the program -------------------------------------------------
    def _get_object(self, name):
        if not isinstance(name, str):
            raise CodePolicyError(f"get_object expects a name string, got {type(name).__name__}")
        key = self._lookup.get(name.strip().lower())
        if key is None:
            raise CodePolicyError(
                f"get_object({name!r}): no such object; known: {sorted(self._objects)}")
        return ObjectView(self._objects[key], self._initial[key])

    def _move_gripper(self, vector):
        vec = np.asarray(vector, dtype=float).reshape(-1)
        if vec.shape != (3,) or not np.all(np.isfinite(vec)):
            raise CodePolicyError(f"move_gripper expects a finite 3-vector, got {vector!r}")
        self._translation = vec

    def _set_gripper(self, open_gripper):
        self._gripper_request = bool(open_gripper)

    def _increment_current_step(self):
        self._next_step += 1

    def _set_done(self):
        self._done_request = True

    def _is_gripper_open(self):
        return not self._objects[self._gripper_key].closed

    def api(self) -> dict:
        """The functions (and ``np``) a program may call, the same at every step."""
        return {
            "np": np,
            "get_object": self._get_object,
            "move_gripper": self._move_gripper,
            "set_gripper": self._set_gripper,
            "increment_current_step": self._increment_current_step,
            "set_done": self._set_done,
            "is_gripper_open": self._is_gripper_open,
        }

    def namespace(self) -> dict:
        """Globals for one call; built per call so a program cannot keep state in them."""
        return {**self.api(), "current_step": self.current_step,
                "gripper_default_position": self.gripper_default_position.copy()}

    def begin(self, objects: dict[str, ObjectState]) -> dict:
        """Load this step's object states and return the namespace to run the program in."""
        self._load(objects)
        if not self._initial:
            self._initial = self._positions(objects)
            self.gripper_default_position = (
                self._initial[self._gripper_key] - np.array([0.0, 0.0, DEFAULT_POSE_DROP_M]))
        self._translation = (0.0, 0.0, 0.0)
        self._gripper_request: bool | None = None
        self._next_step = self.current_step
        self._done_request = False
        return self.namespace()

    def finish(self) -> TeacherStep:
        """Turn the program's requests into the teacher action and advance the state machine."""
        if self._next_step != self.current_step:
            # The paper refreshes initial positions whenever the step changes.
            self.current_step = self._next_step
            self._initial = self._positions(self._objects)
        self.done = self.done or self._done_request
        if self._gripper_request is not None:
            self._gripper_open_request = self._gripper_request
        if self._gripper_open_request is None:
            opened = not self._objects[self._gripper_key].closed
        else:
            opened = self._gripper_open_request
        return TeacherStep(self._action(self._translation, opened), self.done, self.current_step)

    # ---- what a faster executor may do differently (same results) ---------------------------
    def _load(self, objects: dict[str, ObjectState]) -> None:
        """Take this step's object states (and index their names)."""
        if GRIPPER not in objects:
            raise CodePolicyError("object states must include the 'gripper'")
        self._objects = objects
        self._lookup = {name.lower(): name for name in objects}
        self._gripper_key = self._lookup[GRIPPER]

    def _positions(self, objects: dict[str, ObjectState]) -> dict[str, np.ndarray]:
        """Copies of the objects' positions (the initial positions of a step)."""
        return {k: np.array(v.position, dtype=float) for k, v in objects.items()}

    def _action(self, translation, opened: bool) -> np.ndarray:
        """The 4-D teacher action for the program's translation request and gripper state."""
        action = np.empty(4)
        action[:3] = reduce_translation(np.asarray(translation, dtype=float))
        action[3] = ACTION_LEVEL if opened else -ACTION_LEVEL
        return action

    def step(self, objects: dict[str, ObjectState]) -> TeacherStep:
        """Run the program once (trusted code: no sandbox) and return the teacher action."""
        namespace = self.begin(objects)
        exec(self.code, namespace)  # noqa: S102 - trusted reference programs only
        return self.finish()
