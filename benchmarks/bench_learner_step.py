"""Milliseconds per gradient step of the CEILing learner, layouts and precisions side by side.

One gradient step (encode every frame, LSTM over the sequences, weighted loss, backward, Adam)
on a batch of ``--batch`` sequences x ``--length`` frames of 128x128 RGB, for each variant in
turn, interleaved in rounds so the machine's load falls on all of them alike. The variants:

- ``current``: what ``CeilingPolicy`` does (NHWC uint8 frames permuted to an NCHW view, so
  the input's memory stays channels-last; NCHW weights)
- ``channels_last``: the weights in channels-last too (``net.to(memory_format=...)``)
- ``nchw``: the frames copied to contiguous NCHW first
- ``bf16``: the encoder under ``torch.autocast("cpu", torch.bfloat16)`` (the LSTM stays fp32:
  oneDNN has no bf16 LSTM primitive for mixed inputs)
- ``bf16_channels_last``: bf16 with channels-last weights
- ``compiled`` (``--compile``): the encoder through ``torch.compile``; its compile time is
  reported apart

    python benchmarks/bench_learner_step.py [--rounds 6] [--md results/bench_learner_step.md]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig


def cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
                return " ".join(f for f in wanted if f in flags) or "none of avx2/avx512/amx"
    except OSError:
        pass
    return "unknown"


def make_variant(name: str, compile_encoder: bool = False):
    """(policy, optimizer, encode function) for one variant; the same seed for all."""
    torch.manual_seed(0)
    policy = CeilingPolicy(PolicyConfig())
    net = policy.net
    bf16 = name.startswith("bf16")
    if name.endswith("channels_last"):
        net.to(memory_format=torch.channels_last)
    encoder = torch.compile(net.encoder) if compile_encoder else net.encoder

    def encode(frames_uint8):
        x = frames_uint8.permute(0, 3, 1, 2)
        if name == "nchw":
            x = x.contiguous()
        autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if bf16
                    else contextlib.nullcontext())
        with autocast:
            return encoder(x.float().div_(255.0)).float()

    if name != "current":  # "current" is the policy's own encode, untouched
        net.encode = encode
    return policy, torch.optim.Adam(net.parameters(), lr=3e-4)


def one_step(policy, optimizer, batch) -> tuple[float, float]:
    """(wall s, this thread's CPU s) of one gradient step."""
    start, cpu = time.perf_counter(), time.thread_time()
    loss, _ = policy.loss(*batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start, time.thread_time() - cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8, help="sequences per step (default 8)")
    ap.add_argument("--length", type=int, default=150, help="frames per sequence (default 150)")
    ap.add_argument("--rounds", type=int, default=6, help="timed rounds after one warm-up")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1, as the runner's torch_threads)")
    ap.add_argument("--compile", action="store_true", help="add the torch.compile variant")
    ap.add_argument("--md", type=Path, help="also write the table as Markdown here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    n = args.batch * args.length
    batch = (rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8),
             np.arange(n).reshape(args.batch, args.length),
             rng.normal(size=(args.batch, args.length, 8)).astype(np.float32),
             rng.uniform(-1, 1, (args.batch, args.length, 4)).astype(np.float32),
             np.ones((args.batch, args.length), np.float32))
    names = ["current", "channels_last", "nchw", "bf16", "bf16_channels_last"]
    variants = {name: make_variant(name) for name in names}
    compile_s = None
    if args.compile:
        variants["compiled"] = make_variant("compiled", compile_encoder=True)
        start = time.perf_counter()
        one_step(*variants["compiled"], batch)  # compiles
        compile_s = time.perf_counter() - start
    load_start = os.getloadavg()[0]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for policy, opt in variants.values():
        one_step(policy, opt, batch)  # warm-up
    for r in range(args.rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            times[name].append(one_step(*variants[name], batch))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    load_end = os.getloadavg()[0]

    def cpu(name):  # with one thread: the step's own CPU time, which the load hardly changes
        return statistics.median(c for _, c in times[name])

    rows = [f"| {name} | {1000 * min(w for w, _ in t):.0f} | "
            f"{1000 * statistics.median(w for w, _ in t):.0f} | {1000 * cpu(name):.0f} | "
            f"{cpu('current') / cpu(name):.2f}x |" for name, t in times.items()]
    head = (f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"{os.cpu_count()} CPUs ({cpu_flags()}), {torch.get_num_threads()} torch "
            f"thread(s), load average {load_start:.2f} at the start and {load_end:.2f} at the end, "
            f"{date.today()}; `python benchmarks/bench_learner_step.py --batch {args.batch} "
            f"--length {args.length} --rounds {args.rounds} --threads {args.threads}"
            f"{' --compile' if args.compile else ''}`\n\n"
            f"One gradient step on {args.batch} sequences x {args.length} frames (128x128 RGB), "
            f"variants interleaved in {args.rounds} rounds. Milliseconds.\n")
    table = "\n".join(["| variant | wall best | wall median | CPU median | speed vs current "
                       "(CPU) |", "|---|---|---|---|---|", *rows])
    if compile_s is not None:
        table += f"\n\ntorch.compile of the encoder: {compile_s:.0f} s before its first step."
    text = f"{head}\n{table}\n"
    print(text)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text("# Learner gradient step: layouts and precisions\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
