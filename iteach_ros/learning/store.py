"""The learner's folder (``checkpoint_dir``): what a learner persists and where, read by the
learner node and by whoever uses its results (the experiment runner's graph transport).

    learner.pt               trainer checkpoint (weights, optimizer, step counter, pace base)
    trajectories/<id>.npz    one file per stored trajectory (demonstrations: demo_<i>)
    journal/<pipeline>.bin   the episode in progress, per pipeline
"""

from __future__ import annotations

from pathlib import Path

from iteach_ros.learning.buffer import Trajectory, load_trajectory

CHECKPOINT = "learner.pt"
TRAJECTORIES = "trajectories"
JOURNALS = "journal"


def stored_trajectories(folder: str | Path) -> list[tuple[str, Trajectory]]:
    """(id, trajectory) of every stored trajectory, in id order."""
    paths = sorted((Path(folder) / TRAJECTORIES).glob("*.npz"))
    return [(p.stem, load_trajectory(p)) for p in paths]
