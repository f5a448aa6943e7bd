"""The protocol through the ROS 2 graph (``--transport graph``): the same seeds, budgets and
records as in one process, with the learner, the teacher, the arbiter and the simulator as
separate node processes over DDS.

- Demonstrations are recorded in this process (the teacher alone, no learner involved) and
  handed to the graph's learner, which keeps them in its buffer for the whole run and trains the
  warm start on them before the first interactive episode (``warm_steps``).
- Interactive phase: one graph run of ``episodes`` episodes from the runner's interactive seeds,
  with the simulator's ``pace: episode`` (each episode waits for ``steps_per_episode`` gradient
  steps per stored episode, as the runner waits).
- Progress checks (the agent alone every ``progress_every`` episodes) are the simulator's
  evaluation episodes within the same run, on the runner's progress seeds.
- Evaluation: a second graph run of evaluation episodes only (the learner acts alone, its
  weights frozen) on the held-out seeds.
Per-episode records come from the episode log (events, feedback, training status) heard in this
process; the learner's checkpoint is the trained policy.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

PHASE_TIMEOUT_S = 300.0  # start-up and warm start ...
EPISODE_TIMEOUT_S = 120.0  # ... plus this per episode: a hung graph ends with its logs shown


class GraphRunError(RuntimeError):
    """A graph run that did not complete its episodes (a node died, a timeout)."""


def graph_environment() -> dict:
    """DDS discovery kept on this machine and, unless one is set, a domain id of its own
    (parallel runs must not see each other), set in this process too: its episode log joins
    the nodes' domain. Returns the environment for the node processes."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
    return dict(os.environ)


def phase_processes(cfg, learner_dir: Path, *, seed: int, episodes: int, interactive: bool,
                    demonstrations: Path | None = None, record_output: str = ""):
    """The graph's processes for one phase of the protocol ``cfg`` (a ProtocolConfig)."""
    from iteach_ros.experiments.config import PROGRESS_SEED_BASE
    from iteach_ros.ros.launcher import build_processes

    arguments = {"task": cfg.task, "episodes": str(episodes), "seed": str(seed),
                 "beta": str(cfg.beta_deg), "mode": cfg.feedback_mode,
                 "evaluation": "false" if interactive else "true",
                 "policy_source": cfg.teacher, "checkpoint_dir": str(learner_dir),
                 "train": "true" if interactive else "false", "pace": "episode",
                 "action_mode": cfg.action_mode,
                 # the teacher's objects from the perception node (it is idle in evaluations)
                 "perception": "true" if interactive and cfg.perceived_states else "false"}
    warm = cfg.warm_steps if interactive and cfg.warm_start and demonstrations else 0
    checks = cfg.progress_episodes if interactive and cfg.progress_every else 0
    parameters = {
        "teacher": {"sandbox": cfg.sandbox},  # always: the run's choice, whatever the YAML says
        "sim_bridge": {"max_steps": cfg.max_steps or 0, "image_size": cfg.image_size,
                       "progress_every": cfg.progress_every if checks else 0,
                       "progress_episodes": checks, "progress_seed": PROGRESS_SEED_BASE},
        "learner": {"batch_size": cfg.batch_size, "sequence_length": cfg.sequence_length,
                    "sequence_mode": cfg.sequence_mode, "lr": cfg.lr,
                    "image_size": cfg.image_size, "seed": cfg.seed,
                    "torch_threads": cfg.torch_threads, "precision": cfg.precision,
                    "warm_steps": warm,
                    "steps_per_episode": cfg.steps_per_episode,
                    "demonstrations": str(demonstrations or "")},
    }
    return build_processes(arguments, parameters=parameters, record=bool(record_output),
                           record_output=record_output)


def run_phase(specs, episodes: int, desc: str, progress: bool = True, env: dict | None = None,
              log=print, timing: dict | None = None) -> list[dict]:
    """Run one graph until its simulator has finished its schedule (``episodes`` in all,
    progress checks included); the episode log's rows. ``timing`` receives where the wall
    time went: start-up (until the learner reports), waiting for the first episode (the
    learner's warm start), the episodes, and stopping the nodes."""
    import time

    from iteach_ros.ros.episode_log import EpisodeLog
    from iteach_ros.ros.launcher import Graph

    env = graph_environment() if env is None else env
    graph = Graph(specs, env=env, echo=False)
    episode_log = EpisodeLog([""])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=episodes, desc=f"{desc} (graph)", unit="ep", leave=False,
                   dynamic_ncols=True, mininterval=1.0)
    shown = [None]

    def tick():
        if bar is None:
            return
        status = episode_log.status.get("")
        now = (episode_log.ended, None if status is None else
               (status.gradient_steps, status.target_steps))
        if now == shown[0]:
            return
        shown[0] = now
        if now[1] is not None:
            bar.set_postfix(gradient_steps=f"{now[1][0]}/{now[1][1]}", refresh=False)
        if now[0] > bar.n:
            bar.update(now[0] - bar.n)
        else:
            bar.refresh()

    t0 = time.monotonic()
    graph.start()
    try:
        reason = graph.run(PHASE_TIMEOUT_S + EPISODE_TIMEOUT_S * episodes, tick=tick, log=log)
    finally:
        t_end = time.monotonic()
        heard = dict(episode_log.heard)
        rows = episode_log.close()
        if bar is not None:
            bar.close()
    if timing is not None and {"learner_up", "first_episode", "last_end"} <= set(heard):
        # heard here, after discovery: the learner's first status may come in after the
        # simulator (which waited for it) has started
        up = min(heard["learner_up"], heard["first_episode"])
        timing.update(startup_s=up - t0, first_episode_wait_s=heard["first_episode"] - up,
                      episodes_s=heard["last_end"] - heard["first_episode"],
                      stop_s=t_end - heard["last_end"])
    if reason != "done" or graph.failed() or len(rows) < episodes:
        tails = "\n".join(f"--- {name} (exit {code}) ---\n{graph.tail(name, 15)}"
                          for name, code in {**graph.failed(), "sim_bridge": None}.items())
        raise GraphRunError(f"{desc} through the graph: {reason}; {len(rows)} of {episodes} "
                            f"episodes ended\n{tails}")
    return rows[:episodes]


def _learner_trainer(cfg, learner_dir: Path, with_buffer: bool):
    """The graph learner's trained state as a Trainer (its buffer: the stored trajectories)."""
    from iteach_ros.learning.buffer import ReplayBuffer
    from iteach_ros.learning.store import CHECKPOINT, stored_trajectories
    from iteach_ros.learning.trainer import Trainer

    buffer = ReplayBuffer(cfg.sequence_length, cfg.sequence_mode)
    if with_buffer:
        for _, trajectory in stored_trajectories(learner_dir):
            buffer.add(trajectory)
    trainer, _ = Trainer.load_checkpoint(learner_dir / CHECKPOINT, buffer)
    return trainer


def interactive(cfg, demonstrations, result, workdir: Path, progress: bool = True, log=print):
    """The interactive phase through the graph (warm start included: the learner trains it on
    ``demonstrations``, a ReplayBuffer); records into ``result``; returns the trained Trainer."""
    from iteach_ros.experiments.config import INTERACTIVE_SEED_OFFSET, seed_range
    from iteach_ros.experiments.records import record_of_row

    learner_dir = workdir / "learner"
    demos = None
    if cfg.warm_start and len(demonstrations):
        demos = demonstrations.save(workdir / "demonstrations.npz")
    first_seed = seed_range(cfg, INTERACTIVE_SEED_OFFSET, 1)[0]
    specs = phase_processes(cfg, learner_dir, seed=first_seed, episodes=cfg.episodes,
                            interactive=True, demonstrations=demos,
                            record_output=str(workdir / "bag") if cfg.record else "")
    checks = cfg.episodes // cfg.progress_every if cfg.progress_every else 0
    timing = result.graph_timing.setdefault("interactive", {})
    rows = run_phase(specs, cfg.episodes + checks * cfg.progress_episodes, "interactive",
                     progress, log=log, timing=timing)
    trained = 0
    for row in rows:  # in episode order: a check's place is the training episodes before it
        if row["evaluation"]:
            rec = record_of_row("progress", row)
            rec.index = trained
        else:
            rec = record_of_row("interactive", row)
            rec.index = trained
            trained += 1
        result.records.append(rec)
    return _learner_trainer(cfg, learner_dir, with_buffer=cfg.final_steps > 0)


def evaluate(cfg, trainer, result, workdir: Path, progress: bool = True, log=print) -> None:
    """The held-out evaluation through the graph: the learner acts alone with ``trainer``'s
    weights (written as the learner's checkpoint), frozen."""
    from iteach_ros.experiments.config import EVAL_SEED_BASE
    from iteach_ros.experiments.records import record_of_row
    from iteach_ros.learning.store import CHECKPOINT

    if cfg.eval_episodes == 0:
        return
    learner_dir = workdir / "learner"
    trainer.save_checkpoint(learner_dir / CHECKPOINT)
    specs = phase_processes(cfg, learner_dir, seed=EVAL_SEED_BASE, episodes=cfg.eval_episodes,
                            interactive=False)
    rows = run_phase(specs, cfg.eval_episodes, "evaluation", progress, log=log,
                     timing=result.graph_timing.setdefault("eval", {}))
    result.records.extend(record_of_row("eval", r) for r in rows)
