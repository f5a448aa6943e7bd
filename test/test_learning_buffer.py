"""Replay buffer: resampling, alpha, weights, save/load."""

import numpy as np
import pytest

from iteach_ros.learning.arbiter import FeedbackKind
from iteach_ros.learning.buffer import (
    ReplayBuffer,
    TrajectoryBuilder,
    corrective_alpha,
    resample_indices,
)

E, C, N = FeedbackKind.EVALUATIVE, FeedbackKind.CORRECTIVE, FeedbackKind.NONE


def make_traj(kinds, seed=0, size=8, train=None, **meta):
    rng = np.random.default_rng(seed)
    b = TrajectoryBuilder(task="push_button", **meta)
    for i, k in enumerate(kinds):
        b.add(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), rng.normal(size=8),
              rng.uniform(-1, 1, 4), k, True if train is None else train[i])
    return b.build(success=True)


def test_resample_stretches_and_compresses_keeping_ends():
    up = resample_indices(60, 150)
    assert len(up) == 150 and up[0] == 0 and up[-1] == 59 and np.all(np.diff(up) >= 0)
    assert set(up) == set(range(60))  # nothing dropped when stretching
    down = resample_indices(300, 150)
    assert len(down) == 150 and down[0] == 0 and down[-1] == 299
    assert np.all(resample_indices(1, 150) == 0)
    with pytest.raises(ValueError):
        resample_indices(0)


def test_alpha():
    assert corrective_alpha(100, 0) == 1.0
    assert corrective_alpha(100, 9) == 1.0  # fewer than 10 corrective samples
    assert corrective_alpha(100, 10) == 10.0
    assert corrective_alpha(150, 50) == 3.0
    buf = ReplayBuffer()
    buf.add(make_traj([E] * 30 + [C] * 10))
    assert buf.num_samples == 40 and buf.num_corrective == 10 and buf.alpha() == 4.0
    np.testing.assert_allclose(buf.kind_weights(), [1.0, 4.0, 0.0])


def test_batch_weights_follow_kinds_alpha_and_mask():
    buf = ReplayBuffer(sequence_length=20)
    buf.add(make_traj([E] * 10 + [C] * 10, train=[0] * 5 + [1] * 15))
    buf.add(make_traj([N] * 20, seed=1))
    batch = buf.sample(4, np.random.default_rng(0))
    assert batch.frame_index.shape == (4, 20) and batch.actions.shape == (4, 20, 4)
    assert batch.weights.shape == (4, 20)
    # the distinct frames only: two trajectories of 20 steps each
    assert len(batch.frames) <= 40
    alpha = 40 / 10
    for row in batch.weights:
        assert set(np.round(row, 6)) <= {0.0, 1.0, alpha}
    # a sequence gathered through frame_index reproduces the stored images
    traj0 = buf.trajectories[0]
    assert any(np.array_equal(batch.frames[batch.frame_index[b]], traj0.images)
               for b in range(4))


def test_save_load_round_trip(tmp_path):
    buf = ReplayBuffer(sequence_length=30)
    buf.add(make_traj([E, C, C, N], seed=3, seed_value=11, source="interactive"))
    buf.add(make_traj([C] * 7, seed=4, train=[1, 0, 1, 0, 1, 0, 1]))
    path = buf.save(tmp_path / "buffer.npz")
    loaded = ReplayBuffer.load(path)
    assert loaded.sequence_length == 30 and len(loaded) == 2
    for a, b in zip(buf.trajectories, loaded.trajectories):
        for name in ("images", "proprio", "actions", "kinds", "mask"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
            assert getattr(a, name).dtype == getattr(b, name).dtype
        assert a.meta == b.meta
    assert loaded.num_corrective == buf.num_corrective == 9


def test_inconsistent_trajectory_is_rejected():
    from iteach_ros.learning.buffer import Trajectory
    with pytest.raises(ValueError, match="proprio"):
        Trajectory(np.zeros((3, 8, 8, 3), np.uint8), np.zeros((2, 8)), np.zeros((3, 4)),
                   np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer().sample(2, np.random.default_rng(0))


def test_window_mode_pads_short_and_crops_long_trajectories():
    from iteach_ros.learning.buffer import window_indices

    rng = np.random.default_rng(0)
    idx, valid = window_indices(5, 8, rng)
    assert idx.tolist() == [0, 1, 2, 3, 4, 4, 4, 4] and valid.tolist() == [1] * 5 + [0] * 3
    idx, valid = window_indices(20, 8, rng)
    assert np.all(np.diff(idx) == 1) and 0 <= idx[0] <= 12 and valid.sum() == 8
    buf = ReplayBuffer(sequence_length=30, mode="window")
    buf.add(make_traj([E] * 10))
    batch = buf.sample(2, rng)
    assert batch.weights[:, :10].min() == 1.0 and batch.weights[:, 10:].max() == 0.0
    with pytest.raises(ValueError, match="mode"):
        ReplayBuffer(mode="stretch")
