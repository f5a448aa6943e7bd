"""Gradient steps on the replay buffer, in the foreground or in a background thread that runs
concurrently with data collection (as CEILing does), and checkpoints that resume exactly.

A step whose loss or gradients are not finite is refused (counted in ``skipped_steps``, the
weights stay the last finite ones), and a checkpoint is never written from non-finite weights."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from iteach_ros.learning.buffer import ReplayBuffer
from iteach_ros.learning.files import atomic_write
from iteach_ros.learning.policy import CeilingPolicy


@dataclass
class TrainerConfig:
    lr: float = 3e-4  # Adam learning rate (CEILing)
    weight_decay: float = 3e-6  # Adam weight decay (CEILing)
    batch_size: int = 16  # trajectories per gradient step (CEILing)
    seed: int = 0  # batch sampling

    def __post_init__(self):
        if self.lr <= 0 or self.weight_decay < 0 or self.batch_size < 1:
            raise ValueError(f"invalid trainer config {self}")


class Trainer:
    def __init__(self, policy: CeilingPolicy, buffer: ReplayBuffer,
                 cfg: TrainerConfig | None = None):
        self.policy = policy
        self.buffer = buffer
        self.cfg = cfg or TrainerConfig()
        self.optimizer = torch.optim.Adam(policy.net.parameters(), lr=self.cfg.lr,
                                          weight_decay=self.cfg.weight_decay)
        self.rng = np.random.default_rng(self.cfg.seed)
        self.steps = 0
        self.skipped_steps = 0  # refused: non-finite loss or gradients
        self.last_metrics: dict = {}
        # Held while weights change and while the collector runs inference on the same net.
        self.weights_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None

    def train_step(self) -> dict:
        batch = self.buffer.sample(self.cfg.batch_size, self.rng)
        self.policy.net.train()
        loss, metrics = self.policy.loss(batch.frames, batch.frame_index, batch.proprio,
                                         batch.actions, batch.weights)
        self.optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(loss))
        if finite:
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.policy.net.parameters(), float("inf"))
            finite = bool(torch.isfinite(norm))
        if not finite:  # never let it reach the weights
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped_steps += 1
            metrics["skipped"] = True
            self.last_metrics = metrics
            return metrics
        with self.weights_lock:
            self.optimizer.step()
        self.steps += 1
        metrics["alpha"] = self.buffer.alpha()
        self.last_metrics = metrics
        return metrics

    def train(self, n_steps: int, progress=None) -> list[dict]:
        history = []
        for _ in range(n_steps):
            history.append(self.train_step())
            if progress is not None:
                progress(self.steps, history[-1])
        return history

    def select_action(self, image, proprio) -> np.ndarray:
        """Inference that never sees a half-applied optimizer step."""
        with self.weights_lock:
            return self.policy.select_action(image, proprio)

    def act(self, image, proprio, state=None):
        """``CeilingPolicy.act`` under the weights lock: (action, new LSTM state)."""
        with self.weights_lock:
            return self.policy.act(image, proprio, state)

    # ---- concurrent training ------------------------------------------------------------------
    def start(self) -> None:
        """Train in a background thread until ``stop()``; idles while the buffer is empty."""
        if self._thread is not None:
            raise RuntimeError("background training already running")
        self._stop.clear()
        self._error = None

        def loop():
            try:
                while not self._stop.is_set():
                    if len(self.buffer) == 0:
                        time.sleep(0.01)
                        continue
                    self.train_step()
            except BaseException as exc:  # surfaced by stop(), never lost silently
                self._error = exc

        self._thread = threading.Thread(target=loop, name="iteach-trainer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self._error is not None:
            raise RuntimeError("background training failed") from self._error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def failure(self) -> BaseException | None:
        """Why the background training thread died (None while it runs or never ran)."""
        return self._error

    def weights_finite(self) -> bool:
        with self.weights_lock:
            return all(bool(torch.isfinite(p).all()) for p in self.policy.net.parameters())

    # ---- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, path: str | Path, extra: dict | None = None) -> Path:
        """Model, optimizer, sampling RNG and step counter: enough to continue bit-exactly.
        Written atomically (``learning.files``); refused for non-finite weights."""
        path = Path(path)
        if not self.weights_finite():
            raise ValueError(f"refusing to write {path}: the policy's weights are not finite")
        with self.weights_lock:
            state = {
                "policy": self.policy.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "trainer_config": asdict(self.cfg),
                "rng": self.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "steps": self.steps,
                "extra": extra or {},
            }
            atomic_write(path, lambda fh: torch.save(state, fh))
        return path

    @classmethod
    def load_checkpoint(cls, path: str | Path, buffer: ReplayBuffer,
                        device: str = "cpu") -> tuple[Trainer, dict]:
        state = torch.load(path, map_location=device, weights_only=False)
        policy = CeilingPolicy.from_state_dict(state["policy"], device)
        trainer = cls(policy, buffer, TrainerConfig(**state["trainer_config"]))
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        trainer.steps = state["steps"]
        return trainer, state["extra"]
