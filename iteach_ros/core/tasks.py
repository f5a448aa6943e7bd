"""The tasks as the teacher and the nodes know them (ROS-free, MuJoCo-free): name, the paper's
description given to the LLM, the objects a CodePolicy may ask for, the step limit. The
simulator (``iteach_ros.sim.tasks``) adds each task's scene, randomisation and success check."""

from __future__ import annotations

from dataclasses import dataclass

# Control steps (20 Hz) before truncation: CEILing's 300 (15 s), the RLBench protocol the paper
# compares against (robot-learning-freiburg/CEILing src/feedback_train.py and src/evaluate.py:
# `steps < 300  # i.e. 15 seconds`). The paper's own loops allow more (Tubicor/LLM-iTeach
# Architecture/src/evaluate.py: 1000, LLMi_Teach.py: 3000): pass max_steps for those.
RLBENCH_EPISODE_STEPS = 300


@dataclass(frozen=True)
class TaskInfo:
    """A task: what the LLM is told and which objects it may ask for."""

    name: str
    description: str  # the paper's task description given to the LLM
    object_names: tuple[str, ...]  # the paper's object names (get_object arguments)
    max_steps: int = RLBENCH_EPISODE_STEPS  # control steps (20 Hz) before truncation
    graspable: tuple[str, ...] = ()  # objects for which gripped / can_be_gripped are computed


TASK_INFO: dict[str, TaskInfo] = {
    t.name: t for t in (
        TaskInfo("push_button", "push button", ("button",)),
        TaskInfo("close_microwave", "close microwave 30cm", ("microwave", "microwave door")),
        TaskInfo("take_lid_off_saucepan", "lift the lid by 20cm", ("lid",), graspable=("lid",)),
        TaskInfo("unplug_charger", "unplug charger by 20cm", ("charger", "wall outlet"),
                 graspable=("charger",)),
        TaskInfo("put_rubbish_in_bin", "drop the rubbish into the bin",
                 ("rubbish", "bin", "tomato1", "tomato2"),
                 graspable=("rubbish", "tomato1", "tomato2")),
        TaskInfo("reach_target", "reach the red target", ("target",)),
        TaskInfo("pick_and_lift", "pick up the blue block and lift it up to the target",
                 ("cube", "target area"), graspable=("cube",)),
    )
}
"""Tasks by name; the first five are the paper's, the last two its extra tasks."""


def task_info(task: str) -> TaskInfo:
    """The task's metadata; KeyError naming the known tasks for an unknown one."""
    try:
        return TASK_INFO[task]
    except KeyError:
        raise KeyError(f"unknown task {task!r}; known: {sorted(TASK_INFO)}") from None


def object_names(task: str) -> tuple[str, ...]:
    """The objects a CodePolicy for ``task`` may ask ``get_object`` for (besides the gripper)."""
    return tuple(task_info(task).object_names)
