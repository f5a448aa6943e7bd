"""One experiment's configuration and its seed ranges.

Seeds: demonstrations and interactive episodes draw from ranges derived from the run seed;
evaluation always uses the same held-out range (``EVAL_SEED_BASE``) so every method and run is
scored on the same episodes, in either transport.
"""

from __future__ import annotations

from dataclasses import dataclass

from iteach_ros.core import ACTION_DIMS, SANDBOXES
from iteach_ros.learning.precision import check_precision

EVAL_SEED_BASE = 900_000  # held out: never used for demonstrations or training
PROGRESS_SEED_BASE = 800_000  # the agent alone, during training (learning curves)
DEMO_SEED_OFFSET = 0
INTERACTIVE_SEED_OFFSET = 100_000
METHODS = ("llm_iteach", "bc", "teacher")
TRANSPORTS = ("inprocess", "graph")


@dataclass
class ProtocolConfig:
    """One experiment. Defaults follow the paper where this machine allows (docs/deviations.md)."""

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
    batch_size: int = 8  # trajectories per step (paper: 16; docs/deviations.md)
    sequence_length: int = 150  # resampled trajectory length (paper: 150)
    sequence_mode: str = "window"  # window (pad / crop, real time) | resample (paper)
    image_size: int = 128  # wrist camera side (paper: 128)
    lr: float = 3e-4
    seed: int = 0
    teacher: str = "reference"  # reference | a .py CodePolicy file | cache
    sandbox: str = SANDBOXES[0]  # where a cache or file teacher runs: worker | in_process
    max_steps: int | None = None  # per-episode step limit (None: the task's)
    device: str = "cpu"
    precision: str = "auto"  # the learner's encoder: auto | fp32 | bf16 (learning/precision.py)
    torch_threads: int = 1  # 1 beside the simulator on 2 cores; 0: torch's default
    concurrent: bool = True  # train in a background thread while collecting (CEILing)
    transport: str = "inprocess"  # inprocess | graph (the ROS 2 nodes over DDS)
    record: bool = False  # graph: record the interactive phase's topics to an MCAP bag
    perturbed_eval: bool = False  # also evaluate with a push of the arm (sim.perturb.ArmPush)
    # the teacher reads object states from a camera (core.perception), not the simulator's:
    # in one process sim.perception; through the graph the perception node
    perceived_states: bool = False
    # "4d" (the paper's: translation + gripper) | "7d" (+ roll, pitch, yaw; open question 1)
    action_mode: str = "4d"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        for name in ("demos", "episodes", "eval_episodes", "warm_steps", "final_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.method != "teacher" and self.warm_start and self.demos < 1:
            raise ValueError("a warm start needs at least one demonstration")
        if self.sandbox not in SANDBOXES:
            raise ValueError(f"sandbox must be one of {SANDBOXES}, got {self.sandbox!r}")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {self.transport!r}")
        check_precision(self.precision)
        if self.action_mode not in ACTION_DIMS:
            raise ValueError(f"action_mode must be one of {sorted(ACTION_DIMS)}, got "
                             f"{self.action_mode!r}")
        if self.perturbed_eval and self.transport != "inprocess":
            raise ValueError("the perturbed evaluation runs in one process (transport "
                             "inprocess)")


def seed_range(cfg: ProtocolConfig, offset: int, count: int) -> list[int]:
    base = cfg.seed * 1_000_000 + offset
    return list(range(base, base + count))


def eval_seeds(cfg: ProtocolConfig) -> list[int]:
    return list(range(EVAL_SEED_BASE, EVAL_SEED_BASE + cfg.eval_episodes))
