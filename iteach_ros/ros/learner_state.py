"""What the learner node keeps across restarts, in its ``checkpoint_dir``: the stored
trajectories (one file each), the warm-start demonstrations, the trainer's checkpoint and the
journal of each pipeline's episode in progress. Unreadable files are moved aside, never fatal.

The node holds the state (buffer, trainer, pipelines); these functions read and write it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from iteach_ros.core import ACTION_DIM, ACTION_DIMS
from iteach_ros.interaction.episode import EpisodeCollector
from iteach_ros.interaction.lockstep import AgentStream, RunTracker
from iteach_ros.learning.buffer import ReplayBuffer, load_trajectory, save_trajectory
from iteach_ros.learning.files import quarantine
from iteach_ros.learning.journal import EpisodeJournal, JournalError
from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
from iteach_ros.learning.store import CHECKPOINT, TRAJECTORIES
from iteach_ros.learning.trainer import Trainer, TrainerConfig


@dataclass
class Pipeline:
    """What the learner holds for one pipeline namespace."""

    ns: str
    agent: AgentStream
    collector: EpisodeCollector
    subscriptions: dict = field(default_factory=dict)  # topic role -> subscription
    action_pub: object = None
    status_pub: object = None
    runs: RunTracker = field(default_factory=RunTracker)  # the simulator run it follows
    finished: dict = field(default_factory=dict)  # run -> last episode stored (or ended)
    journal: EpisodeJournal | None = None
    last_status: tuple | None = None
    last_status_at: float = 0.0

    @property
    def label(self) -> str:
        return self.ns or "/"

    @property
    def run(self) -> int | None:
        return self.runs.run

    @property
    def last_finished(self) -> int:
        return self.finished.get(self.run, 0)


def file_stem(ns: str) -> str:
    """A namespace as a file-name part ("" -> "root", "/pipe0" -> "pipe0")."""
    return re.sub(r"[^A-Za-z0-9]+", "_", ns).strip("_") or "root"


def trajectory_dir(checkpoint_dir: Path | None) -> Path | None:
    return None if checkpoint_dir is None else checkpoint_dir / TRAJECTORIES


def load_trajectories(tdir: Path, buffer: ReplayBuffer, pipelines: list[Pipeline],
                      log) -> tuple[bool, int]:
    """Everything an earlier run stored in ``tdir`` into ``buffer``, each interactive episode
    marked finished in its pipeline. Returns (demonstrations stored, interactive episodes)."""
    by_ns = {pl.ns: pl for pl in pipelines}
    demos_stored, interactive = False, 0
    for path in sorted(tdir.glob("*.npz")):
        try:
            traj = load_trajectory(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file: moved aside
            moved = quarantine(path)
            log.error(f"unreadable trajectory {path} ({type(exc).__name__}: {exc}); moved to "
                      f"{moved}")
            continue
        buffer.add(traj)
        if traj.meta.get("source") == "demo":
            demos_stored = True
            continue
        interactive += 1
        pl = by_ns.get(traj.meta.get("pipeline", ""))
        if pl is not None:
            run, episode = int(traj.meta.get("run_id", 0)), int(traj.meta.get("episode", 0))
            pl.collector.finished.add((run, episode))
            pl.finished[run] = max(pl.finished.get(run, 0), episode)
    return demos_stored, interactive


def add_demonstrations(path: str, buffer: ReplayBuffer, tdir: Path | None,
                       action_dim: int = ACTION_DIM) -> int:
    """The warm-start demonstrations into ``buffer`` for the whole run (and into ``tdir``, so a
    restart finds them stored); returns how many. Demonstrations in another action space:
    ValueError (nothing is added)."""
    demos = ReplayBuffer.load(path)
    dims = {int(t.actions.shape[-1]) for t in demos.trajectories}
    if dims - {action_dim}:
        raise ValueError(f"demonstrations {path} hold {sorted(dims)}-D actions; this learner's "
                         f"action space is {action_dim}-D (action_mode)")
    for i, traj in enumerate(demos.trajectories):
        traj.meta["source"] = "demo"
        buffer.add(traj)
        if tdir is not None:
            save_trajectory(traj, tdir / f"demo_{i:06d}.npz")
    return len(demos)


def make_trainer(params, checkpoint_dir: Path | None, buffer: ReplayBuffer,
                 log) -> tuple[Trainer, dict]:
    """The trainer resumed from ``checkpoint_dir``, else from ``warm_start_checkpoint``, else
    new with the seed's initial weights; and the checkpoint's extra data."""
    p = params
    dim = ACTION_DIMS[p.action_mode]

    def checked(trainer, where):
        if trainer.policy.cfg.action_dim != dim:
            raise ValueError(f"{where} holds a {trainer.policy.cfg.action_dim}-D policy; "
                             f"action_mode {p.action_mode} needs {dim}-D")
        return trainer

    if checkpoint_dir is not None and (checkpoint_dir / CHECKPOINT).exists():
        ckpt = checkpoint_dir / CHECKPOINT
        trainer, extra = Trainer.load_checkpoint(ckpt, buffer)
        log.info(f"resumed from {ckpt} ({trainer.steps} steps)")
        return checked(trainer, ckpt), extra
    if p.warm_start_checkpoint:
        trainer, _ = Trainer.load_checkpoint(p.warm_start_checkpoint, buffer)
        return checked(trainer, p.warm_start_checkpoint), {}
    import torch

    torch.manual_seed(p.seed)  # the same initial weights for the same seed
    cfg = TrainerConfig(lr=p.lr, batch_size=p.batch_size, seed=p.seed)
    policy = CeilingPolicy(PolicyConfig(image_size=p.image_size, action_dim=dim,
                                        precision=p.precision))
    return Trainer(policy, buffer, cfg), {}


def open_journal(path: Path, image_size: int, log, action_dim: int = ACTION_DIM
                 ) -> EpisodeJournal:
    """The pipeline's journal; an unreadable one is moved aside and a new one started."""
    shape = (image_size, image_size, 3)
    try:
        return EpisodeJournal(path, shape, action_dim=action_dim)
    except JournalError as exc:
        moved = quarantine(path)
        log.error(f"{exc}; moved to {moved}, starting a new journal")
        return EpisodeJournal(path, shape, action_dim=action_dim)


def restore_journal(pl: Pipeline, log) -> None:
    """The episode(s) in progress when the learner stopped, back into the pipeline's
    collector from its journal."""
    restored = pl.journal.read()
    for key, ep in sorted(restored.items(), key=lambda item: item[1].stamp_ns):
        # the run followed before the restart is known, so a kept message of an earlier run
        # (another node's history) cannot interrupt its episode
        pl.runs.accepts(key[0], ep.stamp_ns)
        for step, (image, proprio) in ep.observations.items():
            pl.collector.observe(key, step, image, proprio)
        for step, (action, kind, train) in ep.feedback.items():
            pl.collector.label(key, step, action, kind, train)
    if restored:
        pl.collector.new_run(pl.run, time.monotonic())  # older restored runs end
        log.info(f"{pl.label}: restored from the journal " + ", ".join(
            f"run {k[0]:016x} episode {k[1]} ({len(ep.observations)} steps, "
            f"{len(ep.feedback)} labels)" for k, ep in sorted(restored.items())))


def save_episode(tdir: Path | None, pl: Pipeline, run: int, episode: int, traj) -> None:
    if tdir is not None:
        save_trajectory(traj, tdir / f"{file_stem(pl.ns)}_{run:016x}_{episode:06d}.npz")
