"""Run a CodePolicy open loop in an environment (shared by teacher, learner and tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from iteach_ros.codepolicy.runtime import CodePolicyExecutor
from iteach_ros.core import ACTION_DIM
from iteach_ros.core.actions import in_action_space


@dataclass
class EpisodeResult:
    success: bool
    steps: int  # control steps taken
    program_done: bool  # the program called set_done()
    failure_reason: str | None = None
    seed: int | None = None
    infeasible_steps: int = 0
    actions: list[np.ndarray] = field(default_factory=list, repr=False)
    frames: list[np.ndarray] = field(default_factory=list, repr=False)


def to_env_action(action: np.ndarray, env) -> np.ndarray:
    """A 4-D teacher action for ``env``'s action space (core.actions.in_action_space)."""
    return in_action_space(action, getattr(env, "action_dim", ACTION_DIM))


def run_policy_episode(env, executor: CodePolicyExecutor, seed: int | None = None, *,
                       settle_steps: int = 20, record=None, keep_actions: bool = False
                       ) -> EpisodeResult:
    """Reset ``env`` with ``seed`` and execute the program's teacher action at every step.

    The episode ends on success, failure (step limit, repeated infeasible actions), or
    ``settle_steps`` after the program called ``set_done()`` (time for a dropped object to
    land). ``record(env, obs)`` is called after reset and after every step if given.
    """
    obs, info = env.reset(seed=seed)
    executor.reset()
    result = EpisodeResult(success=bool(info["success"]), steps=0, program_done=False,
                           seed=seed)
    if record is not None:
        record(env, obs)
    after_done = 0
    while not result.success:
        teacher = executor.step(obs.objects)
        if keep_actions:
            result.actions.append(teacher.action.copy())
        obs, _, terminated, truncated, info = env.step(to_env_action(teacher.action, env))
        if record is not None:
            record(env, obs)
        result.steps = info["step"]
        result.success = bool(info["success"])
        result.infeasible_steps += int(info["infeasible"])
        if terminated or truncated:
            result.failure_reason = info.get("failure_reason")
            break
        if teacher.done:
            result.program_done = True
            after_done += 1
            if after_done > settle_steps:
                result.failure_reason = "program_done_without_success"
                break
    return result
