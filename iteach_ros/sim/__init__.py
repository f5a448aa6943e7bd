"""ROS-free simulator core: a Panda arm and the paper's RLBench tasks in MuJoCo.

This package holds no ROS code (the sim_bridge node wraps it). ``make_env(name)`` builds a
Gymnasium-style environment; ``TASKS`` lists the tasks with their LLM-facing description,
object names and step limit (the metadata alone, without MuJoCo: ``iteach_ros.core.tasks``).
Importing it configures offscreen rendering first (``rendering``).
"""

from iteach_ros.sim import rendering  # noqa: F401,I001 - before mujoco is imported

from iteach_ros.sim.env import CONTROL_HZ, MujocoTaskEnv, Observation, make_env
from iteach_ros.sim.tasks import TASKS, Task

__all__ = ["CONTROL_HZ", "TASKS", "MujocoTaskEnv", "Observation", "Task", "make_env"]
