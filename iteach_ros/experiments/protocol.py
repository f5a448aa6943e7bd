"""The paper's protocol: demonstrations, warm start, interactive training with the CodePolicy
teacher and the feedback arbiter, evaluation on held-out seeds.

Both transports run the same protocol with the same step core (``iteach_ros.interaction``):
``inprocess`` (one process, ROS-free) and ``graph`` (the interactive and evaluation phases
through the ROS 2 nodes, ``experiments.graph_transport``).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from iteach_ros.core import ACTION_DIMS
from iteach_ros.experiments import graph_transport
from iteach_ros.experiments.config import (
    DEMO_SEED_OFFSET,
    INTERACTIVE_SEED_OFFSET,
    PROGRESS_SEED_BASE,
    ProtocolConfig,
    eval_seeds,
    seed_range,
)
from iteach_ros.experiments.records import ProtocolResult, record_of
from iteach_ros.interaction.episode import EpisodeAssembler
from iteach_ros.interaction.lockstep import AgentStream, TeacherStream
from iteach_ros.interaction.loop import run_episode
from iteach_ros.interaction.pace import TrainingPace
from iteach_ros.interaction.schedule import EpisodeSchedule
from iteach_ros.learning.arbiter import FeedbackArbiter
from iteach_ros.learning.buffer import ReplayBuffer
from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
from iteach_ros.learning.trainer import Trainer, TrainerConfig
from iteach_ros.teacher.service import make_teacher


def agent_of(trainer: Trainer) -> AgentStream:
    """The learner as an agent: inference under the trainer's weights lock."""
    return AgentStream(trainer.act)


def run_agent_episodes(env, trainer: Trainer, seeds, phase: str, result: ProtocolResult,
                       progress: bool = False, index: int | None = None) -> None:
    """The agent alone (evaluation, learning-curve checks): one record per seed."""
    agent = agent_of(trainer)
    for i, seed in enumerate(_progress(list(seeds), phase, progress)):
        t0 = time.perf_counter()
        out = run_episode(env, seed, episode=i + 1, agent=agent)
        result.records.append(record_of(phase, i if index is None else index, seed, out,
                                      time.perf_counter() - t0, trainer.steps))


def _progress(iterable, desc: str, enabled: bool, total: int | None = None):
    """A progress bar over ``iterable`` (None: a bar to update by hand; not ``enabled``: the
    iterable itself, or None)."""
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit="ep", total=total, leave=False, dynamic_ncols=True)


def run_protocol(cfg: ProtocolConfig, env=None, progress: bool = True, log=print,
                 workdir: str | Path | None = None) -> ProtocolResult:
    """Run one method of the protocol and return per-episode records and the evaluation.
    ``workdir``: the graph transport's learner checkpoints, demonstrations and bag (default: a
    temporary folder)."""
    if cfg.transport == "graph" and cfg.method != "teacher" and workdir is None:
        with tempfile.TemporaryDirectory(prefix="iteach_graph_") as tmp:
            return run_protocol(cfg, env, progress, log, tmp)
    from iteach_ros.sim import make_env

    t_start = time.perf_counter()
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    result = ProtocolResult(config=asdict(cfg))
    teacher = make_teacher(cfg.task, cfg.teacher, cfg.sandbox)  # refused programs: first
    own_env = env is None
    env = env or make_env(cfg.task, render_wrist=cfg.method != "teacher",
                          max_steps=cfg.max_steps, image_size=cfg.image_size,
                          action_mode=cfg.action_mode)
    graph = cfg.transport == "graph"
    # What the teacher reads its objects from (demonstrations, interactive episodes); the
    # learner's inputs and the evaluations are the same either way.
    teach_env = env
    if cfg.perceived_states:
        from iteach_ros.sim.perception import PerceivedStates

        teach_env = PerceivedStates(env)
    phase_t = time.perf_counter()

    def phase_done(name):
        nonlocal phase_t
        now = time.perf_counter()
        result.phase_wall_s[name] = result.phase_wall_s.get(name, 0.0) + now - phase_t
        phase_t = now

    try:
        if cfg.method == "teacher":  # the CodePolicy alone: no learner, so no graph either
            stream = TeacherStream(teacher)
            for phase, scene in _evaluations(cfg, env):
                for i, seed in enumerate(_progress(eval_seeds(cfg), f"teacher {phase}",
                                                   progress)):
                    t0 = time.perf_counter()
                    out = run_episode(teach_env if scene is env else scene, seed,
                                      episode=i + 1, teacher=stream)
                    result.records.append(record_of(phase, i, seed, out,
                                                    time.perf_counter() - t0))
            phase_done("eval")
        else:
            buffer = ReplayBuffer(cfg.sequence_length, cfg.sequence_mode)
            policy = CeilingPolicy(PolicyConfig(image_size=cfg.image_size,
                                                action_dim=ACTION_DIMS[cfg.action_mode],
                                                precision=cfg.precision),
                                   cfg.device)
            trainer = Trainer(policy, buffer, TrainerConfig(lr=cfg.lr, batch_size=cfg.batch_size,
                                                            seed=cfg.seed))
            if cfg.method == "bc" or cfg.warm_start:
                _collect_demos(cfg, teach_env, teacher, buffer, result, progress)
                phase_done("demos")
                if cfg.method == "bc":
                    steps = cfg.bc_steps if cfg.bc_steps is not None else cfg.warm_steps
                    _train(trainer, steps, "BC", progress)
                    phase_done("bc_training")
                elif not graph or not cfg.episodes:  # else the graph's learner trains it
                    _train(trainer, cfg.warm_steps, "warm start", progress)
                    phase_done("warm_start")
            if cfg.method == "llm_iteach":
                if graph and cfg.episodes:
                    trainer = graph_transport.interactive(cfg, buffer, result, Path(workdir),
                                                          progress, log)
                else:
                    _interactive(cfg, teach_env, teacher, trainer, result, progress)
                phase_done("interactive")
                _train(trainer, cfg.final_steps, "final training", progress)
                phase_done("final_training")
            if graph:
                graph_transport.evaluate(cfg, trainer, result, Path(workdir), progress, log)
            else:
                for phase, scene in _evaluations(cfg, env):
                    run_agent_episodes(scene, trainer, eval_seeds(cfg), phase, result, progress)
            phase_done("eval")
            result.trainer = trainer
            result.train_steps = trainer.steps
    finally:
        teacher.close()
        if teach_env is not env:
            teach_env.perception.close()
        if own_env:
            env.close()
    evals = [r.success for r in result.records if r.phase == "eval"]
    result.eval_success_rate = float(np.mean(evals)) if evals else math.nan
    pushed = [r.success for r in result.records if r.phase == "eval_perturbed"]
    result.perturbed_success_rate = float(np.mean(pushed)) if pushed else math.nan
    result.wall_s = time.perf_counter() - t_start
    return result


def _evaluations(cfg: ProtocolConfig, env):
    """(phase, environment) of each evaluation: the nominal one, and the pushed one if asked."""
    from iteach_ros.sim.perturb import ArmPush

    yield "eval", env
    if cfg.perturbed_eval:
        yield "eval_perturbed", ArmPush(env)


def _collect_demos(cfg, env, teacher, buffer, result, progress):
    """Successful teacher episodes only; failed attempts are recorded and skipped."""
    seeds = iter(range(cfg.seed * 1_000_000 + DEMO_SEED_OFFSET,
                       cfg.seed * 1_000_000 + INTERACTIVE_SEED_OFFSET))
    stream = TeacherStream(teacher)
    attempts = 0
    for i in _progress(range(cfg.demos), "demonstrations", progress):
        for _attempt in range(20):
            seed = next(seeds)
            attempts += 1
            assembler = EpisodeAssembler(task=cfg.task, seed=seed, source="demo")
            t0 = time.perf_counter()
            out = run_episode(env, seed, episode=attempts, teacher=stream, assembler=assembler)
            result.records.append(record_of("demo", i, seed, out, time.perf_counter() - t0))
            trajectory = assembler.build(success=True) if out.success else None
            if trajectory is not None:
                buffer.add(trajectory)
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


def interactive_episode(env, seed: int, episode: int, agent: AgentStream,
                        teacher: TeacherStream, arbiter: FeedbackArbiter, task: str):
    """One interactive episode: (outcome, its labelled trajectory or None)."""
    assembler = EpisodeAssembler(task=task, seed=seed, source="interactive", episode=episode)
    out = run_episode(env, seed, episode=episode, agent=agent, teacher=teacher,
                      arbiter=arbiter, assembler=assembler)
    return out, assembler.build(success=out.success)


def _interactive(cfg, env, teacher, trainer, result, progress):
    arbiter = FeedbackArbiter(cfg.beta_deg, cfg.feedback_mode)
    agent, teacher_stream = agent_of(trainer), TeacherStream(teacher)
    first = seed_range(cfg, INTERACTIVE_SEED_OFFSET, 1)[0]
    schedule = EpisodeSchedule(cfg.episodes, first, progress_every=cfg.progress_every,
                               progress_episodes=cfg.progress_episodes,
                               progress_seed=PROGRESS_SEED_BASE)
    pace = TrainingPace(trainer.steps, cfg.steps_per_episode)
    if cfg.concurrent:
        trainer.start()
    bar = _progress(None, "interactive", progress, total=cfg.episodes)
    try:
        for n, entry in enumerate(schedule, start=1):
            t0 = time.perf_counter()
            if entry.evaluation:  # a progress check: the agent alone, training goes on
                out = run_episode(env, entry.seed, episode=n, agent=agent)
                result.records.append(record_of("progress", entry.trained_before, entry.seed,
                                                out, time.perf_counter() - t0, trainer.steps))
                continue
            i = entry.trained_before
            out, trajectory = interactive_episode(env, entry.seed, n, agent, teacher_stream,
                                                  arbiter, cfg.task)
            if trajectory is not None:
                trainer.buffer.add(trajectory)
            if cfg.concurrent:
                while not pace.reached(trainer.steps, i + 1) and trainer.running:
                    time.sleep(0.005)
            else:
                trainer.train(max(0, pace.target(i + 1) - trainer.steps))
            rec = record_of("interactive", i, entry.seed, out, time.perf_counter() - t0,
                            trainer.steps)
            result.records.append(rec)
            if bar is not None:
                recent = [r.success for r in result.records if r.phase == "interactive"][-10:]
                bar.update(1)
                bar.set_postfix(success=f"{np.mean(recent):.0%}",
                                corrective=f"{rec.corrective_rate:.0%}", steps=trainer.steps)
    finally:
        if bar is not None:
            bar.close()
        if cfg.concurrent:
            trainer.stop()
