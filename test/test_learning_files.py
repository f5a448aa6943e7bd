"""What the learner writes and reads back: whole files or none, a full disk said as such,
unreadable files moved aside, journals of another format refused, nothing non-finite kept."""

import errno
import math

import numpy as np
import pytest
import torch

from iteach_ros.learning.buffer import (
    ReplayBuffer,
    Trajectory,
    load_trajectory,
    save_trajectory,
)
from iteach_ros.learning.files import DiskFullError, atomic_write, quarantine
from iteach_ros.learning.journal import MAGIC, EpisodeJournal, JournalError
from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
from iteach_ros.learning.trainer import Trainer, TrainerConfig


def _traj(n=3, actions=None):
    return Trajectory(np.zeros((n, 16, 16, 3), np.uint8), np.zeros((n, 8), np.float32),
                      np.zeros((n, 4), np.float32) if actions is None else actions,
                      np.ones(n, np.uint8), {"episode": 1})


def test_a_trajectory_is_written_whole_and_no_temporary_file_matches_the_glob(tmp_path):
    seen = []

    def write(fh):
        np.savez(fh, a=np.arange(3))
        seen.extend(p.name for p in tmp_path.iterdir())  # while it is being written

    atomic_write(tmp_path / "x.npz", write)
    assert seen == [".x.npz.partial"] and not list(tmp_path.glob(".x.npz.partial"))
    assert [p.name for p in tmp_path.glob("*.npz")] == ["x.npz"]
    save_trajectory(_traj(), tmp_path / "t.npz")
    assert len(load_trajectory(tmp_path / "t.npz")) == 3


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path):
    path = tmp_path / "learner.pt"
    path.write_bytes(b"old")

    def broken(fh):
        fh.write(b"half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["learner.pt"]


def test_a_full_disk_is_reported_as_such(tmp_path, monkeypatch):
    def no_space(fh):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError, match="disk full: could not write .*ckpt.pt"):
        atomic_write(tmp_path / "ckpt.pt", no_space)

    # torch's zip writer swallows the errno: the free space tells
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=1024))

    def torch_style(fh):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64")

    with pytest.raises(DiskFullError, match="1024 bytes free"):
        atomic_write(tmp_path / "ckpt.pt", torch_style)


def test_an_unreadable_file_is_moved_aside_never_overwriting(tmp_path):
    for _ in range(2):
        bad = tmp_path / "root_000001.npz"
        bad.write_bytes(b"PK\x03\x04 torn")
        moved = quarantine(bad)
        assert not bad.exists() and moved.parent.name == "unreadable"
    assert len(list((tmp_path / "unreadable").iterdir())) == 2


def test_a_journal_of_another_format_is_refused_and_runs_key_its_records(tmp_path):
    path = tmp_path / "root.bin"
    path.write_bytes(b"\x01" + bytes(20))  # the old header-less format
    with pytest.raises(JournalError, match="root.bin"):
        EpisodeJournal(path, (4, 4, 3))
    path.unlink()
    j = EpisodeJournal(path, (4, 4, 3))
    j.log_observation((7, 1), 0, np.zeros((4, 4, 3), np.uint8), np.zeros(8))
    j.log_feedback((7, 1), 0, [0.9, 0, 0, 0.9], 1, True)
    j.log_observation((8, 1), 0, np.ones((4, 4, 3), np.uint8), np.zeros(8))  # a new run
    j.discard((7, 1))
    j.close()
    assert path.read_bytes()[:4] == MAGIC
    episodes = EpisodeJournal(path, (4, 4, 3)).read()
    assert list(episodes) == [(8, 1)] and episodes[(8, 1)].observations[0][0].max() == 1
    assert episodes[(8, 1)].stamp_ns == -1  # no stamp given


@pytest.mark.parametrize("bad", [math.nan, math.inf, 9e29])
def test_nothing_non_finite_or_out_of_range_enters_a_buffer(bad):
    actions = np.zeros((3, 4), np.float32)
    actions[1, 0] = bad
    with pytest.raises(ValueError, match="non-finite|outside"):
        _traj(actions=actions)


def _trainer():
    torch.manual_seed(0)
    buffer = ReplayBuffer(8, "window")
    buffer.add(_traj(6))
    return Trainer(CeilingPolicy(PolicyConfig(image_size=16)), buffer, TrainerConfig(batch_size=2))


def test_a_non_finite_loss_is_refused_and_the_weights_stay_finite(tmp_path, monkeypatch):
    trainer = _trainer()
    before = [p.detach().clone() for p in trainer.policy.net.parameters()]
    real_loss = trainer.policy.loss

    def poisoned(*args):
        loss, metrics = real_loss(*args)
        return loss * math.inf, metrics

    monkeypatch.setattr(trainer.policy, "loss", poisoned)
    trainer.train(3)
    assert (trainer.steps, trainer.skipped_steps) == (0, 3)
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.policy.net.parameters()))
    monkeypatch.setattr(trainer.policy, "loss", real_loss)
    trainer.train(1)
    assert trainer.steps == 1 and trainer.weights_finite()


def test_a_checkpoint_is_never_written_from_non_finite_weights(tmp_path):
    trainer = _trainer()
    with torch.no_grad():
        next(trainer.policy.net.parameters())[0].fill_(math.nan)
    with pytest.raises(ValueError, match="not finite"):
        trainer.save_checkpoint(tmp_path / "learner.pt")
    assert not list(tmp_path.iterdir())
