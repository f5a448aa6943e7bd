"""The CEILing policy: wrist RGB -> small strided CNN, + proprioception -> LSTM -> tanh action.

The action distribution is a Gaussian with a fixed standard deviation around the tanh output,
so the negative log-likelihood is a weighted squared error plus a constant; the per-sample
weights carry the feedback labels (see buffer.py).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from iteach_ros.core import ACTION_DIM, IMAGE_SIZE, PROPRIO_DIM
from iteach_ros.learning.precision import check_precision, encoder_uses_bf16


@dataclass
class PolicyConfig:
    image_size: int = IMAGE_SIZE  # wrist RGB side, pixels (paper: 128x128)
    proprio_dim: int = PROPRIO_DIM  # 7 joint positions (rad) + gripper opening (m)
    action_dim: int = ACTION_DIM  # dx, dy, dz, gripper (paper's action space)
    conv_channels: tuple[int, int, int] = (16, 32, 32)  # three strided convs
    # The first conv is 4x4 with stride 4 (then 3x3 stride 2 twice): several times cheaper per
    # image than 3x3 stride 2, and the convolutions are where training time goes
    # (docs/deviations.md). first_stride=2 gives the all-3x3 variant.
    first_stride: int = 4
    image_features: int = 256  # linear projection of the flattened conv output
    lstm_hidden: int = 264  # CEILing: 256 image features + 8 proprio
    action_std: float = 0.1  # fixed Gaussian std (CEILing)
    binary_gripper: bool = True  # at inference the gripper command is +-1 by sign
    # the encoder's number format: auto (bf16 where the CPU has AMX, else fp32) | fp32 | bf16
    # (learning/precision.py); weights and checkpoints are fp32 in every mode
    precision: str = "auto"

    def __post_init__(self):
        check_precision(self.precision)
        if self.first_stride not in (2, 4):
            raise ValueError(f"first_stride must be 2 or 4, got {self.first_stride}")
        if self.image_size % (4 * self.first_stride) or self.image_size < 16:
            raise ValueError(f"image_size must be a multiple of {4 * self.first_stride} and "
                             f">= 16, got {self.image_size}")
        if len(self.conv_channels) != 3 or min(self.conv_channels) < 1:
            raise ValueError(f"conv_channels must be three positive ints, got {self.conv_channels}")
        if self.action_std <= 0:
            raise ValueError(f"action_std must be > 0, got {self.action_std}")
        for name in ("proprio_dim", "action_dim", "image_features", "lstm_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


class CeilingNet(nn.Module):
    def __init__(self, cfg: PolicyConfig, device_type: str = "cpu"):
        super().__init__()
        c1, c2, c3 = cfg.conv_channels
        self.cfg = cfg
        # resolved once: encode runs on every control step
        self.bf16 = encoder_uses_bf16(cfg.precision, device_type)
        first = (nn.Conv2d(3, c1, 4, stride=4) if cfg.first_stride == 4
                 else nn.Conv2d(3, c1, 3, stride=2, padding=1))
        self.encoder = nn.Sequential(
            first, nn.ELU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ELU(),
            nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.ELU(),
            nn.Flatten(),
            nn.Linear(c3 * (cfg.image_size // (4 * cfg.first_stride)) ** 2, cfg.image_features),
            nn.ELU(),
        )
        self.lstm = nn.LSTM(cfg.image_features + cfg.proprio_dim, cfg.lstm_hidden,
                            batch_first=True)
        self.head = nn.Linear(cfg.lstm_hidden, cfg.action_dim)

    def encode(self, frames_uint8: torch.Tensor) -> torch.Tensor:
        """(N, H, W, 3) uint8 -> (N, image_features), fp32 whatever the encoder computes in."""
        x = frames_uint8.permute(0, 3, 1, 2).float().div_(255.0)
        autocast = (torch.autocast(x.device.type, dtype=torch.bfloat16) if self.bf16
                    else contextlib.nullcontext())
        with autocast:
            return self.encoder(x).float()

    def forward(self, features, proprio, state=None):
        """features (B, L, F), proprio (B, L, P) -> mean action (B, L, A), LSTM state."""
        out, state = self.lstm(torch.cat([features, proprio], dim=-1), state)
        return torch.tanh(self.head(out)), state


class CeilingPolicy:
    """Wrapper with the LeRobot-style verbs: ``reset``, ``select_action``, ``loss``."""

    def __init__(self, cfg: PolicyConfig | None = None, device: str = "cpu"):
        self.cfg = cfg or PolicyConfig()
        self.device = torch.device(device)
        self.net = CeilingNet(self.cfg, self.device.type).to(self.device)
        self._state = None

    # ---- inference ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Start of an episode: forget the LSTM state."""
        self._state = None

    def select_action(self, image: np.ndarray, proprio: np.ndarray) -> np.ndarray:
        """One observation, LSTM state carried across calls -> action in [-1, 1]."""
        action, self._state = self.act(image, proprio, self._state)
        return action

    @torch.no_grad()
    def act(self, image: np.ndarray, proprio: np.ndarray, state=None):
        """Stateless form for several concurrent streams: (action, new LSTM state)."""
        was_training = self.net.training
        self.net.eval()
        frame = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)[None]
        prop = torch.as_tensor(proprio, dtype=torch.float32, device=self.device)[None, None]
        feat = self.net.encode(frame)[:, None]
        mean, state = self.net(feat, prop, state)
        self.net.train(was_training)
        action = mean[0, 0].cpu().numpy().astype(np.float64)
        if self.cfg.binary_gripper:
            action[-1] = 1.0 if action[-1] >= 0 else -1.0  # the gripper: last in 4-D and 7-D
        return action, state

    # ---- training -----------------------------------------------------------------------------
    def loss(self, frames, frame_index, proprio, actions, weights):
        """Weighted Gaussian negative log-likelihood of the labelled actions.

        frames (N, H, W, 3) uint8 are encoded once; frame_index (B, L) gathers them into
        sequences. Returns (loss, dict of floats).
        """
        dev = self.device
        frames = torch.as_tensor(frames, device=dev)
        frame_index = torch.as_tensor(frame_index, device=dev)
        proprio = torch.as_tensor(proprio, dtype=torch.float32, device=dev)
        actions = torch.as_tensor(actions, dtype=torch.float32, device=dev)
        weights = torch.as_tensor(weights, dtype=torch.float32, device=dev)
        features = self.net.encode(frames)[frame_index]  # (B, L, F)
        mean, _ = self.net(features, proprio)
        std = self.cfg.action_std
        nll = (0.5 * ((actions - mean) / std) ** 2).sum(-1) + actions.shape[-1] * (
            math.log(std) + 0.5 * math.log(2 * math.pi))
        loss = (nll * weights).sum() / weights.sum().clamp_min(1e-6)
        with torch.no_grad():
            mse = ((actions - mean) ** 2).mean().item()
        return loss, {"loss": loss.item(), "mse": mse, "weight_mean": weights.mean().item()}

    # ---- persistence --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"config": self.cfg.to_dict(), "net": self.net.state_dict()}

    @classmethod
    def from_state_dict(cls, state: dict, device: str = "cpu") -> CeilingPolicy:
        cfg = dict(state["config"])
        cfg["conv_channels"] = tuple(cfg["conv_channels"])
        policy = cls(PolicyConfig(**cfg), device)
        policy.net.load_state_dict(state["net"])
        return policy
