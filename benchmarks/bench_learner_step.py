"""Milliseconds per gradient step of the CEILing learner, layouts and precisions side by side.

One gradient step (encode every frame, LSTM over the sequences, weighted loss, backward, Adam)
on a batch of ``--batch`` sequences x ``--length`` frames of 128x128 RGB, for each variant in
turn, interleaved in rounds so the machine's load falls on all of them alike. The variants:

- ``fp32``: ``CeilingPolicy`` with ``precision="fp32"`` (NHWC uint8 frames permuted to an NCHW
  view, so the input's memory stays channels-last; NCHW weights); the ratios are against it
- ``channels_last``: fp32 with the weights in channels-last too (``net.to(memory_format=...)``)
- ``nchw``: fp32 with the frames copied to contiguous NCHW first
- ``bf16``: ``precision="bf16"``: the encoder under ``torch.autocast(..., torch.bfloat16)``
  (the LSTM stays fp32: oneDNN has no bf16 LSTM primitive for mixed inputs)
- ``bf16_channels_last``: bf16 with channels-last weights
- ``compiled`` (``--compile``): the fp32 encoder through ``torch.compile``; its compile time is
  reported apart

The policy's default, ``precision="auto"``, is bf16 on a CPU with AMX and fp32 elsewhere
(``iteach_ros/learning/precision.py``); the header says which this machine gets.

    python benchmarks/bench_learner_step.py [--rounds 6] [--md results/bench_learner_step.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
from iteach_ros.learning.precision import describe_cpu, encoder_uses_bf16


def make_variant(name: str, compile_encoder: bool = False):
    """(policy, optimizer) for one variant; the same seed for all."""
    torch.manual_seed(0)
    bf16 = name.startswith("bf16")
    policy = CeilingPolicy(PolicyConfig(precision="bf16" if bf16 else "fp32"))
    net = policy.net
    if name.endswith("channels_last"):
        net.to(memory_format=torch.channels_last)
    if name == "nchw":
        def encode(frames_uint8):
            x = frames_uint8.permute(0, 3, 1, 2).contiguous()
            return net.encoder(x.float().div_(255.0))
        net.encode = encode
    if compile_encoder:
        net.encoder = torch.compile(net.encoder)
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
    names = ["fp32", "channels_last", "nchw", "bf16", "bf16_channels_last"]
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
            f"{cpu('fp32') / cpu(name):.2f}x |" for name, t in times.items()]
    head = (f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"{os.cpu_count()} CPUs ({describe_cpu()}), {torch.get_num_threads()} torch "
            f"thread(s), load average {load_start:.2f} at the start and {load_end:.2f} at the end, "
            f"{date.today()}; `python benchmarks/bench_learner_step.py --batch {args.batch} "
            f"--length {args.length} --rounds {args.rounds} --threads {args.threads}"
            f"{' --compile' if args.compile else ''}`\n\n"
            f"One gradient step on {args.batch} sequences x {args.length} frames (128x128 RGB), "
            f"variants interleaved in {args.rounds} rounds. Milliseconds. The policy's default "
            f"(precision auto) here: {'bf16' if encoder_uses_bf16('auto') else 'fp32'}.\n")
    table = "\n".join(["| variant | wall best | wall median | CPU median | speed vs fp32 "
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
