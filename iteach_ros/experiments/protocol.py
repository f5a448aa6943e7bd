"""The paper's protocol in one process: demonstrations, warm start, interactive training with the
CodePolicy teacher and the feedback arbiter, evaluation on held-out seeds (ROS-free).

Seeds: demonstrations and interactive episodes draw from ranges derived from the run seed;
evaluation always uses the same held-out range (``EVAL_SEED_BASE``) so every method and run is
scored on the same episodes.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from iteach_ros.codepolicy.teachers import make_teacher
from iteach_ros.learning.arbiter import FeedbackArbiter, FeedbackKind
from iteach_ros.learning.buffer import ReplayBuffer, TrajectoryBuilder
from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
from iteach_ros.learning.trainer import Trainer, TrainerConfig

EVAL_SEED_BASE = 900_000  # held out: never used for demonstrations or training
PROGRESS_SEED_BASE = 800_000  # the agent alone, during training (learning curves)
DEMO_SEED_OFFSET = 0
INTERACTIVE_SEED_OFFSET = 100_000
METHODS = ("llm_iteach", "bc", "teacher")


@dataclass
class ProtocolConfig:
    """One experiment. Defaults follow the paper where this machine allows (see README)."""

    task: str = "push_button"
    method: str = "llm_iteach"  # llm_iteach | bc | teacher (open-loop CodePolicy)
    demos: int = 10  # warm-start demonstrations (paper: 10)
    episodes: int = 100  # interactive episodes (paper: 100)
    eval_episodes: int = 100  # held-out evaluation episodes (paper: 100)
    beta_deg: float = 20.0  # arbiter threshold (paper: 20)
    feedback_mode: str = "both"  # both | corrective_only | evaluative_only
    warm_start: bool = True  # BC on the demonstrations before interactive training
    warm_steps: int = 200  # gradient steps of the warm start
    bc_steps: int | None = None  # BC baseline's gradient steps (None: warm_steps)
    steps_per_episode: int = 4  # at least this many gradient steps per interactive episode
    final_steps: int = 0  # gradient steps after interactive collection
    progress_every: int = 20  # every N interactive episodes the agent alone runs ...
    progress_episodes: int = 10  # ... this many episodes (a learning curve; 0 = none)
    batch_size: int = 8  # trajectories per step (paper: 16; see README for the trade-off)
    sequence_length: int = 150  # resampled trajectory length (paper: 150)
    sequence_mode: str = "window"  # window (pad / crop, real time) | resample (paper)
    image_size: int = 128  # wrist camera side (paper: 128)
    lr: float = 3e-4
    seed: int = 0
    teacher: str = "reference"  # reference | a .py CodePolicy file | cache
    max_steps: int | None = None  # per-episode step limit (None: the task's)
    device: str = "cpu"
    torch_threads: int = 1  # 1 beside the simulator on 2 cores; 0: torch's default
    concurrent: bool = True  # train in a background thread while collecting (CEILing)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        for name in ("demos", "episodes", "eval_episodes", "warm_steps", "final_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.method != "teacher" and self.warm_start and self.demos < 1:
            raise ValueError("a warm start needs at least one demonstration")


@dataclass
class EpisodeRecord:
    phase: str  # demo | interactive | eval
    index: int
    seed: int
    success: bool
    steps: int
    evaluative_rate: float = math.nan
    corrective_rate: float = math.nan
    none_rate: float = math.nan
    mean_angle_deg: float = math.nan
    teacher_errors: int = 0
    train_steps: int = 0
    wall_s: float = 0.0
    failure_reason: str = ""


@dataclass
class ProtocolResult:
    config: dict
    records: list[EpisodeRecord] = field(default_factory=list)
    eval_success_rate: float = math.nan
    train_steps: int = 0
    wall_s: float = 0.0
    phase_wall_s: dict = field(default_factory=dict)
    trainer: Trainer | None = None

    def summary(self) -> dict:
        inter = [r for r in self.records if r.phase == "interactive"]
        return {
            "task": self.config["task"], "method": self.config["method"],
            "eval_success_rate": self.eval_success_rate,
            "eval_episodes": sum(r.phase == "eval" for r in self.records),
            "interactive_episodes": len(inter),
            "interactive_success_rate": (float(np.mean([r.success for r in inter]))
                                         if inter else math.nan),
            "train_steps": self.train_steps, "wall_s": round(self.wall_s, 1),
            "phase_wall_s": {k: round(v, 1) for k, v in self.phase_wall_s.items()},
        }


def _seeds(cfg: ProtocolConfig, offset: int, count: int) -> list[int]:
    base = cfg.seed * 1_000_000 + offset
    return list(range(base, base + count))


def run_teacher_episode(env, teacher, seed: int, builder: TrajectoryBuilder | None = None):
    """Open-loop CodePolicy episode; with ``builder`` its steps become a demonstration."""
    obs, info = env.reset(seed=seed)
    teacher.reset()
    steps, reason = 0, ""
    while not info["success"]:
        action = teacher.step(obs.objects).action
        if builder is not None:
            builder.add(obs.wrist_rgb, obs.proprio, action, FeedbackKind.CORRECTIVE)
        obs, _, terminated, truncated, info = env.step(action)
        steps = info["step"]
        if terminated or truncated:
            reason = info.get("failure_reason", "")
            break
    return bool(info["success"]), steps, reason


def run_agent_episode(env, trainer: Trainer, seed: int, teacher=None,
                      arbiter: FeedbackArbiter | None = None,
                      builder: TrajectoryBuilder | None = None) -> EpisodeRecord:
    """The learner acts; with a teacher and an arbiter each step is arbitrated and labelled."""
    obs, info = env.reset(seed=seed)
    trainer.policy.reset()
    if teacher is not None:
        teacher.reset()
    kinds, angles, errors, steps, reason = [], [], 0, 0, ""
    while not info["success"]:
        action = trainer.select_action(obs.wrist_rgb, obs.proprio)
        if teacher is not None:
            try:
                teacher_action = teacher.step(obs.objects).action
            except Exception:  # a broken teacher step: the agent acts, no feedback
                teacher_action = None
                errors += 1
            if teacher_action is not None:
                decision = arbiter.decide(action, teacher_action)
                action, kind = decision.executed, decision.kind
                angles.append(decision.angle_deg)
                train = decision.train_weight_base > 0
            else:
                kind, train = FeedbackKind.NONE, False
            kinds.append(int(kind))
            if builder is not None:
                builder.add(obs.wrist_rgb, obs.proprio, action, kind, train)
        obs, _, terminated, truncated, info = env.step(action)
        steps = info["step"]
        if terminated or truncated:
            reason = info.get("failure_reason", "")
            break
    rec = EpisodeRecord("interactive" if teacher is not None else "eval", 0, seed,
                        bool(info["success"]), steps, failure_reason=reason,
                        teacher_errors=errors)
    if kinds:
        k = np.bincount(kinds, minlength=3) / len(kinds)
        rec.evaluative_rate, rec.corrective_rate, rec.none_rate = map(float, k[:3])
        finite = [a for a in angles if not math.isnan(a)]
        rec.mean_angle_deg = float(np.mean(finite)) if finite else math.nan
    return rec


def _progress(iterable, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit="ep", leave=False, dynamic_ncols=True)


def run_protocol(cfg: ProtocolConfig, env=None, progress: bool = True,
                 log=print) -> ProtocolResult:
    """Run one method of the protocol and return per-episode records and the evaluation."""
    from iteach_ros.sim import make_env

    t_start = time.perf_counter()
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    result = ProtocolResult(config=asdict(cfg))
    own_env = env is None
    env = env or make_env(cfg.task, render_wrist=cfg.method != "teacher",
                          max_steps=cfg.max_steps, image_size=cfg.image_size)
    teacher = make_teacher(cfg.task, cfg.teacher)
    phase_t = time.perf_counter()

    def phase_done(name):
        nonlocal phase_t
        now = time.perf_counter()
        result.phase_wall_s[name] = result.phase_wall_s.get(name, 0.0) + now - phase_t
        phase_t = now

    try:
        if cfg.method == "teacher":
            eval_seeds = list(range(EVAL_SEED_BASE, EVAL_SEED_BASE + cfg.eval_episodes))
            for i, seed in enumerate(_progress(eval_seeds, "teacher eval", progress)):
                t0 = time.perf_counter()
                ok, steps, reason = run_teacher_episode(env, teacher, seed)
                result.records.append(EpisodeRecord("eval", i, seed, ok, steps,
                                                    wall_s=time.perf_counter() - t0,
                                                    failure_reason=reason))
            phase_done("eval")
        else:
            buffer = ReplayBuffer(cfg.sequence_length, cfg.sequence_mode)
            policy = CeilingPolicy(PolicyConfig(image_size=cfg.image_size), cfg.device)
            trainer = Trainer(policy, buffer, TrainerConfig(lr=cfg.lr, batch_size=cfg.batch_size,
                                                            seed=cfg.seed))
            result.trainer = trainer
            if cfg.method == "bc" or cfg.warm_start:
                _collect_demos(cfg, env, teacher, buffer, result, progress)
                phase_done("demos")
                if cfg.method == "bc":
                    steps = cfg.bc_steps if cfg.bc_steps is not None else cfg.warm_steps
                    _train(trainer, steps, "BC", progress)
                    phase_done("bc_training")
                else:
                    _train(trainer, cfg.warm_steps, "warm start", progress)
                    phase_done("warm_start")
            if cfg.method == "llm_iteach":
                _interactive(cfg, env, teacher, trainer, result, progress)
                phase_done("interactive")
                _train(trainer, cfg.final_steps, "final training", progress)
                phase_done("final_training")
            eval_seeds = list(range(EVAL_SEED_BASE, EVAL_SEED_BASE + cfg.eval_episodes))
            for i, seed in enumerate(_progress(eval_seeds, "evaluation", progress)):
                t0 = time.perf_counter()
                rec = run_agent_episode(env, trainer, seed)
                rec.index, rec.train_steps = i, trainer.steps
                rec.wall_s = time.perf_counter() - t0
                result.records.append(rec)
            phase_done("eval")
            result.train_steps = trainer.steps
    finally:
        if own_env:
            env.close()
    evals = [r.success for r in result.records if r.phase == "eval"]
    result.eval_success_rate = float(np.mean(evals)) if evals else math.nan
    result.wall_s = time.perf_counter() - t_start
    return result


def _collect_demos(cfg, env, teacher, buffer, result, progress):
    """Successful teacher episodes only; failed attempts are recorded and skipped."""
    seeds = iter(range(cfg.seed * 1_000_000 + DEMO_SEED_OFFSET,
                       cfg.seed * 1_000_000 + INTERACTIVE_SEED_OFFSET))
    bar = _progress(range(cfg.demos), "demonstrations", progress)
    for i in bar:
        for _attempt in range(20):
            seed = next(seeds)
            builder = TrajectoryBuilder(task=cfg.task, seed=seed, source="demo")
            t0 = time.perf_counter()
            ok, steps, reason = run_teacher_episode(env, teacher, seed, builder)
            result.records.append(EpisodeRecord("demo", i, seed, ok, steps,
                                                corrective_rate=1.0,
                                                wall_s=time.perf_counter() - t0,
                                                failure_reason=reason))
            if ok and len(builder):
                buffer.add(builder.build(success=True))
                break
        else:
            raise RuntimeError(f"the teacher failed 20 demonstrations in a row on {cfg.task}")


def _train(trainer: Trainer, steps: int, desc: str, progress: bool) -> None:
    if steps <= 0:
        return
    if progress:
        from tqdm import tqdm

        with tqdm(total=steps, desc=desc, unit="step", leave=False, dynamic_ncols=True) as bar:
            def tick(_, metrics):
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.3f}")
            trainer.train(steps, tick)
    else:
        trainer.train(steps)


def _progress_check(cfg, env, trainer, result, episodes_done: int) -> None:
    """The agent alone on a few seeds of their own (training goes on meanwhile)."""
    for k in range(cfg.progress_episodes):
        seed = PROGRESS_SEED_BASE + k
        t0 = time.perf_counter()
        rec = run_agent_episode(env, trainer, seed)
        rec.phase, rec.index, rec.train_steps = "progress", episodes_done, trainer.steps
        rec.wall_s = time.perf_counter() - t0
        result.records.append(rec)


def _interactive(cfg, env, teacher, trainer, result, progress):
    arbiter = FeedbackArbiter(cfg.beta_deg, cfg.feedback_mode)
    seeds = _seeds(cfg, INTERACTIVE_SEED_OFFSET, cfg.episodes)
    start_steps = trainer.steps
    if cfg.concurrent:
        trainer.start()
    try:
        bar = _progress(list(enumerate(seeds)), "interactive", progress)
        for i, seed in bar:
            t0 = time.perf_counter()
            builder = TrajectoryBuilder(task=cfg.task, seed=seed, source="interactive")
            rec = run_agent_episode(env, trainer, seed, teacher, arbiter, builder)
            if len(builder):
                trainer.buffer.add(builder.build(success=rec.success))
            # The learner keeps pace with the data: as in the paper's budget (2000 + 20 x
            # episodes steps), training grows with every episode, not with wall time alone.
            target = start_steps + cfg.steps_per_episode * (i + 1)
            if cfg.concurrent:
                while trainer.steps < target and trainer.running:
                    time.sleep(0.005)
            else:
                trainer.train(max(0, target - trainer.steps))
            rec.index, rec.train_steps = i, trainer.steps
            rec.wall_s = time.perf_counter() - t0
            result.records.append(rec)
            if cfg.progress_episodes and (i + 1) % cfg.progress_every == 0:
                _progress_check(cfg, env, trainer, result, i + 1)
            if progress and hasattr(bar, "set_postfix"):
                recent = [r.success for r in result.records if r.phase == "interactive"][-10:]
                bar.set_postfix(success=f"{np.mean(recent):.0%}",
                                corrective=f"{rec.corrective_rate:.0%}", steps=trainer.steps)
    finally:
        if cfg.concurrent:
            trainer.stop()
