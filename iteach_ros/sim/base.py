"""What every simulator backend shares (ROS-free, MuJoCo-free): the task's metadata, the
paper's action space and the bookkeeping of an episode's end.

A backend sets itself up with :meth:`TaskEnvBase._configure`, checks each action with
:meth:`TaskEnvBase._check_action` and ends each step with :meth:`TaskEnvBase._end_step`, so
termination, truncation and the ``info`` keys are the same whichever simulator runs.
"""

from __future__ import annotations

import numpy as np

from iteach_ros.core import ACTION_DIMS, CONTROL_HZ, ROTATION_STEP_RAD, TRANSLATION_STEP_M
from iteach_ros.core.tasks import TaskInfo

__all__ = ["ROTATION_STEP_RAD", "TRANSLATION_STEP_M", "TaskEnvBase"]


class TaskEnvBase:
    """``reset(seed) -> (obs, info)``, ``step(action) -> (obs, reward, terminated, truncated,
    info)``, ``close()``; usable as a context manager."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def _configure(self, task: TaskInfo, *, action_mode: str, max_steps: int | None,
                   render_wrist: bool, max_infeasible: int) -> None:
        if action_mode not in ACTION_DIMS:
            raise ValueError(f"action_mode must be one of {sorted(ACTION_DIMS)}, "
                             f"got {action_mode!r}")
        if max_steps is not None and max_steps < 0:
            raise ValueError(f"max_steps must be positive (0 or None: the task's), got {max_steps}")
        self.task_name = task.name
        self.description = task.description
        self.object_names = task.object_names
        self.max_steps = int(max_steps or task.max_steps)
        self.action_mode = action_mode
        self.action_dim = ACTION_DIMS[action_mode]
        self.render_wrist = render_wrist
        self.max_infeasible = max_infeasible
        self.control_hz = CONTROL_HZ
        self._step = 0
        self._infeasible_run = 0

    def _check_action(self, action) -> np.ndarray:
        """The action as a float vector; ValueError for a wrong length or non-finite entries."""
        try:
            a = np.asarray(action, dtype=float).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"action must be a numeric vector, got {action!r}") from exc
        if a.shape != (self.action_dim,):
            raise ValueError(f"action must have {self.action_dim} entries for action_mode "
                             f"{self.action_mode!r}, got shape {np.shape(action)}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action has non-finite entries: {a.tolist()}")
        return a

    def _reset_info(self, success: bool = False) -> dict:
        self._step = 0
        self._infeasible_run = 0
        return {"success": success, "infeasible": False, "step": 0, "task": self.task_name}

    def _end_step(self, success: bool, infeasible: bool, clipped: bool,
                  terminated: bool = False) -> tuple[bool, bool, dict]:
        """Count the step; ``(terminated, truncated, info)``: the episode ends on success,
        ``max_infeasible`` infeasible steps in a row (``failure_reason``
        "infeasible_actions") or the step limit ("step_limit")."""
        self._step += 1
        self._infeasible_run = self._infeasible_run + 1 if infeasible else 0
        info = {"success": success, "infeasible": infeasible, "action_clipped": clipped,
                "step": self._step, "task": self.task_name}
        terminated = bool(terminated or success)
        if not success and self._infeasible_run >= self.max_infeasible:
            terminated = True
            info["failure_reason"] = "infeasible_actions"
        truncated = not terminated and self._step >= self.max_steps
        if truncated:
            info["failure_reason"] = "step_limit"
        return terminated, truncated, info

    def close(self) -> None:
        """Release the simulator."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
