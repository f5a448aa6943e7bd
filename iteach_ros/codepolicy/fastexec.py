"""A faster :class:`CodePolicyExecutor` with the same semantics (ROS-free).

The contract executor (``runtime.py``) is written for clarity and owns the per-step logic
(``begin``: load the states, start the episode; ``finish``: advance the step, refresh initial
positions, resolve the gripper, build the action). This subclass keeps every observable
behaviour and overrides only the hooks that logic calls (``_load``, ``_positions``, ``_action``)
and the API functions: a namespace template instead of a dict built per step, array ``copy()``,
object views that copy their arrays other than ``position`` only for programs that name them,
Python floats and a table of the 54 possible actions. ``test_sandbox_executors.py`` runs the
executor semantics over every executor, and ``test_sandbox.py`` checks identical actions on the
reference programs' recorded episodes.
"""

from __future__ import annotations

import math
from types import CodeType

import numpy as np

from iteach_ros.codepolicy.runtime import (
    ACTION_LEVEL,
    DEAD_BAND_M,
    CodePolicyError,
    CodePolicyExecutor,
    ObjectView,
)
from iteach_ros.core.state import GRIPPER, ObjectState

_F64 = np.dtype(float)
_NDARRAY = np.ndarray


# The 54 possible teacher actions (3 levels per axis x gripper open/closed), indexed as in
# FastExecutor.finish; copying one is cheaper than building a 4-element array from floats.
_LEVELS = (-ACTION_LEVEL, 0.0, ACTION_LEVEL)
_ACTIONS = [np.array((lx, ly, lz, lg)) for lx in _LEVELS for ly in _LEVELS for lz in _LEVELS
            for lg in (-ACTION_LEVEL, ACTION_LEVEL)]
for _a in _ACTIONS:
    _a.flags.writeable = False


def _as_f64(x) -> np.ndarray:
    if type(x) is _NDARRAY and x.dtype == _F64:
        return x.copy()
    return np.array(x, dtype=float)


def _code_names(code: CodeType) -> set[str]:
    """Every name a code object (and the functions and comprehensions inside it) refers to."""
    names = set(code.co_names) | set(code.co_varnames)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _code_names(const)
    return names


# View fields copied from the state on first access (most programs read only ``position``).
_LAZY_FIELDS = ("normal", "initial_position", "quaternion", "joint_positions")


class _View(ObjectView):
    """An ObjectView whose array fields other than ``position`` are copied on first access;
    values are those of the moment of ``get_object``."""

    __slots__ = ("_src", "_init")

    def __getattr__(self, name):  # called only for slots not filled yet
        if name == "normal":
            value = self.normal = _as_f64(self._src.normal)
        elif name == "initial_position":
            value = self.initial_position = self._init.copy()
        elif name == "quaternion":
            value = self.quaternion = _as_f64(self._src.quaternion)
        elif name == "joint_positions":
            q = self._src.joint_positions
            value = self.joint_positions = None if q is None else _as_f64(q)
        else:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return value


class FastExecutor(CodePolicyExecutor):
    """Drop-in :class:`CodePolicyExecutor`; ``extra_globals`` are added to every namespace
    (the sandbox's guards and restricted builtins) without a per-step ``dict.update``."""

    def __init__(self, code: CodeType | str, filename: str = "<codepolicy>",
                 extra_globals: dict | None = None):
        self._extra_globals = dict(extra_globals or {})
        self._code_names = None
        super().__init__(code, filename)
        # A global the program never names cannot be observed (no globals()/vars() in a
        # CodePolicy): skip the per-step copy of gripper_default_position then.
        names = self._code_names = _code_names(self.code)
        self.reset()
        self._uses_default_pose = "gripper_default_position" in names
        # Views copy the fields the program names at once, the others only if read anyway.
        self._eager_normal = "normal" in names
        self._eager_initial = "initial_position" in names
        self._eager_rare = tuple(f for f in _LAZY_FIELDS[2:] if f in names)

    def reset(self) -> None:
        super().reset()
        self._template = self.api()
        self._template.update(self._extra_globals)
        if self._code_names is not None:
            # Only what the program names (plus builtins): a smaller dict to copy every step;
            # a name the program does not mention cannot be observed.
            self._template = {k: v for k, v in self._template.items()
                              if k in self._code_names or k == "__builtins__"}
        self._names_key: tuple | None = None

    def _get_object(self, name):
        key = self._exact.get(name) if type(name) is str else None
        if key is None:
            if type(name) is not str:
                return super()._get_object(name)
            key = self._lookup.get(name.strip().lower())
            if key is None:
                return super()._get_object(name)  # raises the contract's error
        state = self._objects[key]
        view = _View.__new__(_View)
        view._src = state
        view._init = self._initial[key]
        view.name = state.name
        view.position = _as_f64(state.position)
        if self._eager_normal:
            view.normal = _as_f64(state.normal)
        if self._eager_initial:
            view.initial_position = view._init.copy()
        for name in self._eager_rare:
            getattr(view, name)  # fills the slot now, from this step's state
        view.gripped = bool(state.gripped)
        view.can_be_gripped = bool(state.can_be_gripped)
        view.closed = bool(state.closed)
        return view

    def _move_gripper(self, vector):
        if type(vector) is _NDARRAY and vector.shape == (3,):
            x, y, z = vector.tolist()
            if type(x) is float and math.isfinite(x) and math.isfinite(y) and math.isfinite(z):
                self._translation = (x, y, z)
                return
        super()._move_gripper(vector)
        self._translation = tuple(self._translation.tolist())

    def namespace(self) -> dict:
        ns = self._template.copy()
        ns["current_step"] = self.current_step
        if self._uses_default_pose:
            ns["gripper_default_position"] = self.gripper_default_position.copy()
        return ns

    def _load(self, objects: dict[str, ObjectState]) -> None:
        if GRIPPER not in objects:
            raise CodePolicyError("object states must include the 'gripper'")
        self._objects = objects
        names = tuple(objects)
        if names != self._names_key:
            self._lookup = {name.lower(): name for name in objects}
            # Names as the program usually writes them, looked up without strip()/lower().
            self._exact = self._lookup | {name: name for name in objects}
            self._names_key = names
            self._gripper_key = self._lookup[GRIPPER]

    def _positions(self, objects: dict[str, ObjectState]) -> dict[str, np.ndarray]:
        return {k: _as_f64(v.position) for k, v in objects.items()}

    def _action(self, translation, opened: bool) -> np.ndarray:
        x, y, z = translation
        index = (((2 if x >= DEAD_BAND_M else (0 if x <= -DEAD_BAND_M else 1)) * 9
                  + (2 if y >= DEAD_BAND_M else (0 if y <= -DEAD_BAND_M else 1)) * 3
                  + (2 if z >= DEAD_BAND_M else (0 if z <= -DEAD_BAND_M else 1))) * 2
                 + (1 if opened else 0))
        return _ACTIONS[index].copy()
