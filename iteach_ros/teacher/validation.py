"""Validation of a CodePolicy: static checks, then open-loop rollouts on seeded episodes.

``validate_policy`` compiles the source in the sandbox (syntax, API names, object names,
forbidden constructs), then runs it open loop (the teacher's action is executed) in the
simulator for each seed, in a sandbox worker process under one wall-clock budget for all its
episodes unless ``sandbox="in_process"``, and reports per-episode outcomes, the success rate and
a plain-language ``feedback()`` that the repair loop hands back to the LLM. Each episode also
keeps a trace of the program's steps (:class:`StepTrace`: when each began and finished, how far
the gripper travelled, whether it had come to rest, what moved), and the task's success
conditions (:data:`SUCCESS_CONDITIONS`) are checked on its end state, so the search can tell
which step failed and how, and whether the plan itself is at fault. Optional Gaussian noise on
the object positions the CodePolicy sees answers the paper's open question on noisy object
states.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from iteach_ros.codepolicy.runtime import TeacherStep
from iteach_ros.codepolicy.sandbox import (
    DEFAULT_SANDBOX,
    SandboxError,
    SandboxLimits,
    validation_policy,
)
from iteach_ros.core import tasks
from iteach_ros.core.state import GRIPPER, ObjectState
from iteach_ros.teacher.conditions import SUCCESS_CONDITIONS, Condition, check_conditions
from iteach_ros.teacher.report import (
    SETTLE_M,
    SETTLE_WINDOW,
    EpisodeRecord,
    FailureClass,
    StepStats,
    StepTrace,
    ValidationReport,
)

# The report's types are read from here too (``validation.ValidationReport``).
__all__ = ["SUCCESS_CONDITIONS", "Condition", "EpisodeRecord", "FailureClass", "NoisyPolicy",
           "StepStats", "StepTrace", "ValidationReport", "noise_sweep", "validate_policy",
           "validation_budget_s"]

# Wall clock for all of one program's validation episodes (steps, worker starts and restarts;
# the simulator's time is not counted): at least this much ...
MIN_BUDGET_S = 60.0
BUDGET_S_PER_EPISODE = 2.0  # ... or this much per episode, whichever is more


def validation_budget_s(episodes: int) -> float:
    return max(MIN_BUDGET_S, BUDGET_S_PER_EPISODE * episodes)


class NoisyPolicy:
    """Adds Gaussian noise (std in metres) to the object positions a policy sees.

    The gripper's own position is left exact unless ``include_gripper`` (proprioception is
    usually precise; object poses come from perception).
    """

    def __init__(self, policy, std: float, seed: int = 0, include_gripper: bool = False):
        self.policy = policy
        self.std = float(std)
        self.include_gripper = include_gripper
        self.rng = np.random.default_rng(seed)

    @property
    def current_step(self) -> int:
        return self.policy.current_step

    def reset(self) -> None:
        self.policy.reset()

    def step(self, objects: dict[str, ObjectState]) -> TeacherStep:
        noisy = {}
        for name, state in objects.items():
            if name == GRIPPER and not self.include_gripper:
                noisy[name] = state
            else:
                noisy[name] = replace(state, position=np.asarray(state.position, dtype=float)
                                      + self.rng.normal(0.0, self.std, 3))
        return self.policy.step(noisy)


def default_env_factory(task: str, max_steps: int | None = None):
    from iteach_ros.sim import make_env

    return make_env(task, render_wrist=False, max_steps=max_steps)


def validate_policy(source: str, task: str, seeds: Sequence[int], *,
                    env_factory: Callable | None = None, object_names: Sequence[str] | None = None,
                    noise_std: float = 0.0, noise_seed: int = 0,
                    limits: SandboxLimits | None = None, env=None,
                    progress: Callable[[int, EpisodeRecord], None] | None = None,
                    max_steps: int | None = None, sandbox: str = DEFAULT_SANDBOX,
                    budget_s: float | None = None) -> ValidationReport:
    """Static checks, then one open-loop episode per seed; never raises for program faults.

    ``max_steps``: the episodes' step limit (default: the task's); it configures the default
    environment, so it cannot be combined with ``env`` or ``env_factory``.
    ``sandbox``: ``worker`` (default: the program runs in a sandbox worker process; a worker
    that dies fails its episode, the next runs in a fresh one) or ``in_process``.
    ``budget_s``: the worker's wall-clock budget for all episodes (default
    ``validation_budget_s(len(seeds))``); once spent, the remaining episodes fail at once with
    a 'timeout' error.
    """
    from iteach_ros.sim.rollout import run_policy_episode

    if max_steps is not None and (env is not None or env_factory is not None):
        raise ValueError("max_steps configures the default environment; set the step limit "
                         "on the env (or in env_factory) instead")

    report = ValidationReport(task=task, seeds=list(seeds), noise_std=float(noise_std))
    if object_names is None:
        object_names = tasks.object_names(task)
    budget = validation_budget_s(len(report.seeds)) if budget_s is None else budget_s
    try:
        policy = validation_policy(source, object_names, budget_s=budget, limits=limits,
                                   filename=f"<codepolicy {task}>", sandbox=sandbox)
    except SandboxError as exc:
        report.static_error, report.static_lineno = exc.message, exc.lineno
        return report
    runner = NoisyPolicy(policy, noise_std, noise_seed) if noise_std > 0 else policy
    own_env = env is None
    try:
        if env is None:
            env = env_factory(task) if env_factory else default_env_factory(task, max_steps)
        for seed in seeds:
            last = {}
            tracer = _Tracer(policy)

            def record(_env, obs, last=last, tracer=tracer):
                last.setdefault("first", obs)
                last["obs"] = obs
                last["n"] = last.get("n", -1) + 1
                tracer.observe(last["n"], obs.objects)

            try:
                res = run_policy_episode(env, _Commanded(runner, tracer), seed=seed,
                                         record=record)
                rec = EpisodeRecord(seed=seed, success=res.success, steps=res.steps,
                                    final_step=policy.current_step,
                                    program_done=res.program_done,
                                    failure=None if res.success else (res.failure_reason
                                                                      or "unknown"))
            except SandboxError as exc:
                rec = EpisodeRecord(seed=seed, success=False, steps=last.get("n", 0),
                                    final_step=policy.current_step, program_done=False,
                                    failure="error", error=str(exc), error_kind=exc.kind,
                                    error_lineno=exc.lineno)
            obs = last.get("obs")
            if obs is not None:
                rec.final_positions = {k: np.round(np.asarray(v.position, float), 4).tolist()
                                       for k, v in obs.objects.items()}
                first = last["first"].objects
                rec.moved_m = {k: round(float(np.linalg.norm(
                    np.asarray(v.position, float) - np.asarray(first[k].position, float))), 4)
                    for k, v in obs.objects.items() if k in first}
                if GRIPPER in obs.objects:
                    rec.gripper_closed = bool(obs.objects[GRIPPER].closed)
                rec.trace = tracer.finish()
                rec.conditions = check_conditions(task, first, obs.objects)
            report.episodes.append(rec)
            if progress is not None:
                progress(len(report.episodes), rec)
    finally:
        policy.close()
        if own_env and env is not None and hasattr(env, "close"):
            env.close()
    return report


class _Commanded:
    """The policy as the rollout sees it, telling the tracer each translation it commands."""

    def __init__(self, policy, tracer: _Tracer):
        self.policy, self.tracer = policy, tracer

    def reset(self) -> None:
        self.policy.reset()

    def step(self, objects):
        out = self.policy.step(objects)
        self.tracer.command(out.action)
        return out


class _Tracer:
    """Cuts an episode's observations into the program's steps (the step a program is in when
    it reads an observation is ``policy.current_step`` after the previous one)."""

    def __init__(self, policy):
        self.policy = policy
        self.traces: list[StepTrace] = []
        self.path: list[np.ndarray] = []  # gripper positions during the current step
        self.start_objects: dict = {}
        self.objects: dict = {}
        self.commands: list[np.ndarray] = []  # translation commands during the current step

    def observe(self, index: int, objects: dict) -> None:
        step = int(self.policy.current_step)
        if not self.traces or self.traces[-1].step != step:
            if self.traces:
                self._close(index)
            self.traces.append(StepTrace(step=step, start=index, normals={
                k: [round(float(c), 3) for c in v.normal] for k, v in objects.items()
                if k != GRIPPER}))
            self.path, self.commands = [], []
            self.start_objects = objects
        if GRIPPER in objects:
            self.path.append(np.asarray(objects[GRIPPER].position, dtype=float))
        self.objects = objects

    def command(self, action) -> None:
        """The action the program returned for the last observation (its current step's)."""
        self.commands.append(np.asarray(action, dtype=float)[:3])

    def _close(self, end: int | None) -> None:
        t = self.traces[-1]
        t.end = end
        if self.commands:
            t.command = [round(float(c), 3) for c in np.mean(self.commands, axis=0)]
        path = np.asarray(self.path) if self.path else np.zeros((0, 3))
        if len(path) > 1:
            t.gripper_path_m = round(float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()), 4)
            tail = path[-SETTLE_WINDOW:]
            t.gripper_settled = bool(len(path) >= SETTLE_WINDOW and np.linalg.norm(
                tail - tail[-1], axis=1).max() < SETTLE_M)
        t.moved_m = {k: round(float(np.linalg.norm(np.asarray(v.position, float)
                                                   - np.asarray(self.start_objects[k].position,
                                                                float))), 4)
                     for k, v in self.objects.items() if k in self.start_objects}
        grip = self.objects.get(GRIPPER)
        if grip is not None:
            t.gripper_closed = bool(grip.closed)
            t.gripper_to_m = {k: round(float(np.linalg.norm(np.asarray(v.position, float)
                                                            - np.asarray(grip.position, float))),
                                       4)
                              for k, v in self.objects.items() if k != GRIPPER}

    def finish(self) -> list[StepTrace]:
        if self.traces:
            self._close(None)
        return self.traces


def noise_sweep(source: str, task: str, seeds: Sequence[int], stds: Sequence[float],
                **kwargs) -> list[dict]:
    """Success rate of one CodePolicy for each object-position noise level (metres)."""
    rows = []
    for std in stds:
        rep = validate_policy(source, task, seeds, noise_std=std, **kwargs)
        rows.append({"noise_std": float(std), "success_rate": rep.success_rate,
                     "episodes": len(rep.episodes), "static_error": rep.static_error})
    return rows
