"""Which number format the learner's image encoder computes in, chosen per CPU.

bf16 autocast of the convolutions is a measured win only where the CPU multiplies bf16 in
hardware: 1.28x per gradient step with AMX (Sapphire Rapids class), 0.17x on an AVX2-only CPU,
where oneDNN emulates it (``benchmarks/bench_learner_step.py``, ``results/bench_learner_step.md``).
So ``auto`` means bf16 on a CPU with AMX-BF16 and fp32 everywhere else (and on any GPU, where it
is not measured). Weights, the LSTM, the loss and the optimizer stay fp32 in every mode, so a
checkpoint is the same whichever mode trained it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")
_REPORTED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (/proc/cpuinfo; empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def describe_cpu() -> str:
    """The flags that decide the learner's speed, for benchmark headers."""
    flags = cpu_flags()
    if not flags:
        return "unknown"
    return " ".join(f for f in _REPORTED_FLAGS if f in flags) or "none of avx2/avx512/amx"


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def encoder_uses_bf16(precision: str, device_type: str = "cpu") -> bool:
    """Whether the encoder runs under bf16 autocast for this setting on this machine."""
    check_precision(precision)
    if precision == "auto":
        return device_type == "cpu" and "amx_bf16" in cpu_flags()
    return precision == "bf16"
