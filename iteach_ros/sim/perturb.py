"""A perturbed evaluation: a push of the arm in the middle of the episode.

Behaviour cloning learns the states of its demonstrations; an interactively taught learner has
also seen states its own mistakes led to. To tell them apart the evaluation must leave the
demonstrations' states: ``ArmPush`` wraps an environment and, once per episode, overrides the
policy's translation for a few steps with a push in a random horizontal direction (full speed,
1 cm per step: ``steps`` cm in all), at a random step. The policy sees every pushed state and has
to recover. Both the step and the direction follow from the episode's seed, so every method is
pushed the same way on the same episode.
"""

from __future__ import annotations

import numpy as np


class ArmPush:
    """``env`` with one push of the arm per episode (the wrapped env's interface otherwise)."""

    def __init__(self, env, *, start: tuple[int, int] = (10, 30), steps: int = 5,
                 seed_offset: int = 7_919):
        if steps < 1 or start[0] < 0 or start[1] < start[0]:
            raise ValueError(f"need steps >= 1 and 0 <= start[0] <= start[1], got steps={steps}, "
                             f"start={start}")
        self.env, self.start, self.steps, self.seed_offset = env, start, steps, seed_offset
        self.push_at, self.direction, self._step = -1, np.zeros(3), 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        rng = np.random.default_rng(None if seed is None else seed + self.seed_offset)
        self.push_at = int(rng.integers(self.start[0], self.start[1] + 1))
        angle = rng.uniform(0.0, 2.0 * np.pi)
        self.direction = np.array([np.cos(angle), np.sin(angle), 0.0])
        self._step = 0
        return self.env.reset(seed=seed, options=options)

    def pushing(self) -> bool:
        return self.push_at <= self._step < self.push_at + self.steps

    def step(self, action):
        action = np.array(action, dtype=float)
        pushed = self.pushing()
        if pushed:
            action[:3] = self.direction  # the gripper command stays the policy's
        self._step += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["pushed"] = pushed
        return obs, reward, terminated, truncated, info

    def __getattr__(self, name):  # everything else is the wrapped environment's
        return getattr(self.env, name)
