"""Validation of a CodePolicy: static checks, then open-loop rollouts on seeded episodes.

``validate_policy`` compiles the source in the sandbox (syntax, API names, object names,
forbidden constructs), then runs it open loop (the teacher's action is executed) in the
simulator for each seed and reports per-episode outcomes, the success rate and a plain-language
``feedback()`` that the repair loop hands back to the LLM. Optional Gaussian noise on the object
positions the CodePolicy sees answers the paper's open question on noisy object states.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from iteach_ros.codepolicy.runtime import GRIPPER, ObjectState, TeacherStep
from iteach_ros.codepolicy.sandbox import SandboxedPolicy, SandboxError, SandboxLimits


@dataclass
class EpisodeRecord:
    seed: int
    success: bool
    steps: int
    final_step: int  # the CodePolicy's current_step when the episode ended
    program_done: bool
    failure: str | None = None  # 'step_limit', 'program_done_without_success', 'error', ...
    error: str | None = None  # the sandbox error message, when the program faulted
    error_kind: str | None = None
    error_lineno: int | None = None
    final_positions: dict[str, list[float]] = field(default_factory=dict)
    moved_m: dict[str, float] = field(default_factory=dict)  # distance from start, metres
    gripper_closed: bool | None = None  # at the end of the episode


@dataclass
class ValidationReport:
    task: str
    seeds: list[int]
    noise_std: float = 0.0
    episodes: list[EpisodeRecord] = field(default_factory=list)
    static_error: str | None = None
    static_lineno: int | None = None

    @property
    def static_ok(self) -> bool:
        return self.static_error is None

    @property
    def successes(self) -> int:
        return sum(e.success for e in self.episodes)

    @property
    def success_rate(self) -> float:
        return self.successes / len(self.episodes) if self.episodes else 0.0

    def summary(self) -> dict:
        return {"task": self.task, "seeds": list(self.seeds), "noise_std": self.noise_std,
                "episodes": len(self.episodes), "successes": self.successes,
                "success_rate": round(self.success_rate, 4), "static_error": self.static_error}

    def to_dict(self) -> dict:
        out = self.summary()
        out["records"] = [asdict(e) for e in self.episodes]
        return out

    def failing_step(self) -> int | None:
        """The CodePolicy step most failed episodes ended in (None if none failed)."""
        failed = [e.final_step for e in self.episodes if not e.success]
        return collections.Counter(failed).most_common(1)[0][0] if failed else None

    def first_error(self) -> EpisodeRecord | None:
        return next((e for e in self.episodes if e.error), None)

    def feedback(self, instructions: Sequence[str] = (), detail: bool = True) -> str:
        """What went wrong, in words an LLM can act on (``detail``: final object positions)."""
        if self.static_error:
            return f"The program was rejected before running: {self.static_error}"
        n = len(self.episodes)
        failed = [e for e in self.episodes if not e.success]
        if not failed:
            return f"The program succeeded in all {n} episodes."
        parts = [f"The program succeeded in {n - len(failed)} of {n} simulated episodes."]
        err = self.first_error()
        if err is not None:
            count = sum(1 for e in failed if e.error == err.error)
            parts.append(f"In {count} episode(s) it stopped with an error: {err.error}")
        step = self.failing_step()
        stuck = [e for e in failed if e.final_step == step and not e.error]
        if stuck:
            what = (f" ('{instructions[step - 1]}')" if 0 < step <= len(instructions) else "")
            done = sum(e.program_done for e in stuck)
            if done:
                parts.append(f"In {done} episode(s) the program finished all its steps but the "
                             "task was not achieved.")
            if len(stuck) > done:
                parts.append(f"In {len(stuck) - done} episode(s) it never finished step "
                             f"{step}{what} before the time limit.")
            ex = stuck[0]
            if ex.final_positions and detail:
                where = ", ".join(f"{k} at {np.round(v, 3).tolist()}"
                                  for k, v in ex.final_positions.items())
                moved = ", ".join(f"{k} {100 * v:.1f} cm" for k, v in ex.moved_m.items()
                                  if k != GRIPPER)
                grip = ("" if ex.gripper_closed is None else
                        f"; the gripper was {'closed' if ex.gripper_closed else 'open'}")
                parts.append(f"At the end of one such episode: {where}{grip}"
                             + (f"; distance each object moved: {moved}" if moved else "")
                             + ".")
        return " ".join(parts)


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


def default_env_factory(task: str):
    from iteach_ros.sim import make_env

    return make_env(task, render_wrist=False)


def task_object_names(task: str) -> tuple[str, ...]:
    from iteach_ros.sim import TASKS

    return tuple(TASKS[task].object_names)


def validate_policy(source: str, task: str, seeds: Sequence[int], *,
                    env_factory: Callable | None = None, object_names: Sequence[str] | None = None,
                    noise_std: float = 0.0, noise_seed: int = 0,
                    limits: SandboxLimits | None = None, env=None,
                    progress: Callable[[int, EpisodeRecord], None] | None = None
                    ) -> ValidationReport:
    """Static checks, then one open-loop episode per seed; never raises for program faults."""
    from iteach_ros.sim.rollout import run_policy_episode

    report = ValidationReport(task=task, seeds=list(seeds), noise_std=float(noise_std))
    if object_names is None:
        object_names = task_object_names(task)
    try:
        policy = SandboxedPolicy(source, object_names, limits, filename=f"<codepolicy {task}>")
    except SandboxError as exc:
        report.static_error, report.static_lineno = exc.message, exc.lineno
        return report
    runner = NoisyPolicy(policy, noise_std, noise_seed) if noise_std > 0 else policy
    own_env = env is None
    env = env if env is not None else (env_factory or default_env_factory)(task)
    try:
        for seed in seeds:
            last = {}

            def record(_env, obs, last=last):
                last.setdefault("first", obs)
                last["obs"] = obs
                last["n"] = last.get("n", -1) + 1

            try:
                res = run_policy_episode(env, runner, seed=seed, record=record)
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
            report.episodes.append(rec)
            if progress is not None:
                progress(len(report.episodes), rec)
    finally:
        if own_env and hasattr(env, "close"):
            env.close()
    return report


def noise_sweep(source: str, task: str, seeds: Sequence[int], stds: Sequence[float],
                **kwargs) -> list[dict]:
    """Success rate of one CodePolicy for each object-position noise level (metres)."""
    rows = []
    for std in stds:
        rep = validate_policy(source, task, seeds, noise_std=std, **kwargs)
        rows.append({"noise_std": float(std), "success_rate": rep.success_rate,
                     "episodes": len(rep.episodes), "static_error": rep.static_error})
    return rows
