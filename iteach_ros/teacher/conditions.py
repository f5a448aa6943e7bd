"""A task's success condition in the CodePolicy API's terms: the parts of what the simulator's
success check (``iteach_ros.sim.tasks``) requires, each with a test on an episode's first and
last object states where the API's objects decide it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Condition:
    """One part of a task's success condition, in words, with a test on the first and last
    object states of an episode (None: not decidable from the API's objects)."""

    text: str
    test: Callable[[dict, dict], bool] | None = None
    # (object, "along its normal" | "against its normal"): the way the condition needs the
    # object to move, where it names one (a plan moving it the other way cannot succeed).
    direction: tuple[str, str] | None = None


def _held(name: str):
    return lambda first, last: bool(last[name].gripped)


def _near(a: str, b: str, metres: float):
    return lambda first, last: bool(np.linalg.norm(
        np.asarray(last[a].position) - np.asarray(last[b].position)) < metres)


def _risen(name: str, metres: float):
    return lambda first, last: bool(last[name].position[2] - first[name].position[2] >= metres)


def _along_normal(name: str, metres: float):
    return lambda first, last: bool(np.dot(np.asarray(last[name].position)
                                           - np.asarray(first[name].position),
                                           np.asarray(first[name].normal)) >= metres)


# What the simulator's success check of each task (iteach_ros.sim.tasks) requires, in the
# API's terms: the account of a failed episode says which of these did not hold.
SUCCESS_CONDITIONS: dict[str, tuple[Condition, ...]] = {
    "push_button": (Condition("the button is pressed in by at least 3 mm"),),
    "close_microwave": (Condition("the microwave door has swung at least 40 degrees from where "
                                  "it started"),),
    "take_lid_off_saucepan": (Condition("the gripper holds the lid", _held("lid")),
                              Condition("the lid is at least 10 cm above where it started",
                                        _risen("lid", 0.10))),
    "unplug_charger": (Condition("the charger is pulled at least 5 cm out along its normal",
                                 _along_normal("charger", 0.05),
                                 ("charger", "along its normal")),),
    "put_rubbish_in_bin": (Condition("the rubbish lies inside the bin"),),
    "reach_target": (Condition("the gripper is within 2.5 cm of the target",
                               _near("gripper", "target", 0.025)),),
    "pick_and_lift": (Condition("the gripper holds the cube", _held("cube")),
                      Condition("the cube is within 5 cm of the target area",
                                _near("cube", "target area", 0.05))),
}


def check_conditions(task: str, first: dict, last: dict) -> dict[str, bool | None]:
    """Which of the task's conditions held (None: not decidable here)."""
    out: dict[str, bool | None] = {}
    for cond in SUCCESS_CONDITIONS.get(task, ()):
        try:
            out[cond.text] = None if cond.test is None else cond.test(first, last)
        except (KeyError, AttributeError, TypeError, ValueError):  # an env without the object
            out[cond.text] = None
    return out


def required_directions(task: str) -> list[tuple[str, str]]:
    """(object, direction) for each of the task's conditions that names a direction."""
    return [c.direction for c in SUCCESS_CONDITIONS.get(task, ()) if c.direction is not None]
