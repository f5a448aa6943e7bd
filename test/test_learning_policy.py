"""CEILing policy and trainer: shapes, learning on a fixed batch, concurrency, exact resume."""

import numpy as np
import pytest
import torch

from iteach_ros.learning.arbiter import FeedbackKind
from iteach_ros.learning.buffer import ReplayBuffer, TrajectoryBuilder
from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
from iteach_ros.learning.trainer import Trainer, TrainerConfig

SMALL = PolicyConfig(image_size=32, conv_channels=(4, 8, 8), image_features=32, lstm_hidden=40)


def buffer_with(n_traj=3, steps=12, seed=0):
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(sequence_length=16)
    for t in range(n_traj):
        b = TrajectoryBuilder(task="reach_target", seed=t)
        for _ in range(steps):
            img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            action = np.tanh(rng.normal(size=4))
            b.add(img, rng.normal(size=8), action, FeedbackKind.CORRECTIVE)
        buf.add(b.build())
    return buf


def test_select_action_is_bounded_binary_gripper_and_stateful():
    torch.manual_seed(0)
    policy = CeilingPolicy(SMALL)
    img = np.full((32, 32, 3), 127, np.uint8)
    a1 = policy.select_action(img, np.zeros(8))
    a2 = policy.select_action(img, np.zeros(8))
    assert a1.shape == (4,) and np.all(np.abs(a1) <= 1) and a1[3] in (-1.0, 1.0)
    assert not np.allclose(a1[:3], a2[:3])  # the LSTM state carried over
    policy.reset()
    np.testing.assert_allclose(policy.select_action(img, np.zeros(8)), a1, rtol=1e-5)


def test_training_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    buf = buffer_with()
    trainer = Trainer(CeilingPolicy(SMALL), buf, TrainerConfig(batch_size=3, lr=3e-3))
    batch = buf.sample(3, np.random.default_rng(1))
    args = (batch.frames, batch.frame_index, batch.proprio, batch.actions, batch.weights)
    before = trainer.policy.loss(*args)[0].item()
    for _ in range(30):
        loss, _ = trainer.policy.loss(*args)
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()
    after = trainer.policy.loss(*args)[0].item()
    assert after < before - 1.0, (before, after)


def test_zero_weight_samples_do_not_train():
    torch.manual_seed(0)
    buf = buffer_with(n_traj=1)
    policy = CeilingPolicy(SMALL)
    batch = buf.sample(1, np.random.default_rng(0))
    loss, _ = policy.loss(batch.frames, batch.frame_index, batch.proprio, batch.actions,
                          np.zeros_like(batch.weights))
    loss.backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0
               for p in policy.net.parameters())


def test_checkpoint_resumes_exactly(tmp_path):
    torch.manual_seed(0)
    buf = buffer_with()
    trainer = Trainer(CeilingPolicy(SMALL), buf, TrainerConfig(batch_size=2, seed=5))
    trainer.train(3)
    path = trainer.save_checkpoint(tmp_path / "ckpt.pt", extra={"episodes": 4})
    trainer.train(2)
    resumed, extra = Trainer.load_checkpoint(path, buf)
    assert extra == {"episodes": 4} and resumed.steps == 3
    resumed.train(2)
    for a, b in zip(trainer.policy.net.parameters(), resumed.policy.net.parameters()):
        assert torch.equal(a, b)


def test_background_training_runs_concurrently_and_reports_errors():
    torch.manual_seed(0)
    buf = ReplayBuffer(sequence_length=16)
    trainer = Trainer(CeilingPolicy(SMALL), buf, TrainerConfig(batch_size=2))
    trainer.start()
    img = np.zeros((32, 32, 3), np.uint8)
    trainer.select_action(img, np.zeros(8))  # inference while the trainer idles
    for traj in buffer_with(n_traj=2).trajectories:
        buf.add(traj)
    import time
    deadline = time.monotonic() + 30
    while trainer.steps < 3 and time.monotonic() < deadline:
        trainer.select_action(img, np.zeros(8))
        time.sleep(0.01)
    trainer.stop()
    assert trainer.steps >= 3
    # a failure inside the thread is raised by stop(), not swallowed
    bad = Trainer(CeilingPolicy(SMALL), buffer_with(n_traj=1), TrainerConfig(batch_size=1))
    bad.buffer.trajectories[0].proprio = np.zeros((12, 3), np.float32)  # wrong width
    bad.start()
    time.sleep(0.5)
    with pytest.raises(RuntimeError, match="background training failed"):
        bad.stop()


def test_config_validation():
    with pytest.raises(ValueError, match="image_size"):
        PolicyConfig(image_size=30)
    with pytest.raises(ValueError, match="action_std"):
        PolicyConfig(action_std=0)


def test_seven_d_policy_makes_the_last_component_the_binary_gripper():
    torch.manual_seed(0)
    policy = CeilingPolicy(PolicyConfig(image_size=32, conv_channels=(4, 8, 8),
                                        image_features=32, lstm_hidden=40, action_dim=7))
    a = policy.select_action(np.full((32, 32, 3), 127, np.uint8), np.zeros(8))
    assert a.shape == (7,) and a[-1] in (-1.0, 1.0)
    assert np.all(np.abs(a[:6]) < 1.0) and a[3] not in (-1.0, 1.0)  # droll stays continuous
