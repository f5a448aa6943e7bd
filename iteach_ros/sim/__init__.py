"""ROS-free simulator core: a Panda arm and the paper's RLBench tasks in MuJoCo.

This package holds no ROS code (the sim_bridge node wraps it). ``make_env(name)`` builds a
Gymnasium-style environment; ``TASKS`` lists the tasks with their LLM-facing description,
object names and step limit. Importing it sets ``MUJOCO_GL=egl`` (unless set) so the wrist
camera renders offscreen, and ``LP_NUM_THREADS=0`` (unless set): Mesa's software rasteriser then
draws in the calling thread, which for a 128x128 image is faster than handing it to raster
threads and leaves the other cores to other processes (``benchmarks/bench_sim.py`` with the
wrist camera, two runs each on push_button, reach_target, pick_and_lift: 550-661 steps/s with
0 threads, 483-587 with 2).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "0")

from iteach_ros.sim.env import (  # noqa: E402
    CONTROL_HZ,
    MujocoTaskEnv,
    Observation,
    make_env,
)
from iteach_ros.sim.tasks import TASKS, Task  # noqa: E402

__all__ = ["CONTROL_HZ", "TASKS", "MujocoTaskEnv", "Observation", "Task", "make_env"]
