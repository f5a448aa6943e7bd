"""Per-step cost of a CodePolicy: exec of the source string (the original LLM-iTeach) vs the
compiled code object (trusted executor) vs the sandbox (validated, instrumented, guarded).

Object states come from one recorded episode of each task's reference program in the simulator
(so every branch of the state machine is exercised as in training); each measurement replays
them, resetting the program at the start of each pass. Times are the calling thread's CPU time
(robust on a shared machine), the best of 9 blocks interleaved across the three methods.
"compiled" is the contract's CodePolicyExecutor on trusted code; "sandbox" is SandboxedPolicy
(validated once, instrumented, guarded, on FastExecutor).

  python benchmarks/bench_codepolicy.py [--tasks push_button,reach_target] [--passes 40]
      [--policy TASK=FILE ...] [--json out.json]

Targets (issue 4): sandboxed step <= 50 us and >= 10x faster than exec of the source.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iteach_ros.codepolicy.runtime import CodePolicyExecutor  # noqa: E402
from iteach_ros.codepolicy.sandbox import SandboxedPolicy  # noqa: E402


def record_states(task: str, seed: int = 0) -> list[dict]:
    from iteach_ros.codepolicy.reference import load_reference
    from iteach_ros.sim import make_env

    env = make_env(task, seed=seed, render_wrist=False)
    ex = CodePolicyExecutor(load_reference(task))
    obs, info = env.reset(seed=seed)
    states = [obs.objects]
    for _ in range(env.task.max_steps if hasattr(env, "task") else 200):
        step = ex.step(obs.objects)
        obs, _, terminated, truncated, info = env.step(step.action)
        states.append(obs.objects)
        if terminated or truncated or info.get("success"):
            break
    env.close()
    return states


def _block(run_pass, states, passes: int) -> float:
    """Thread CPU time per step of ``passes`` passes (CPU time, not wall time: other processes
    on a shared machine do not inflate it)."""
    t0 = time.thread_time()
    for _ in range(passes):
        run_pass(states)
    return (time.thread_time() - t0) / (passes * len(states))


def bench(source: str, object_names, states, passes: int, blocks: int = 9) -> dict:
    trusted = CodePolicyExecutor(source)
    sandboxed = SandboxedPolicy(source, object_names)
    exec_ex = CodePolicyExecutor(source)

    def exec_pass(sts):
        exec_ex.reset()
        for objs in sts:
            ns = exec_ex.begin(objs)
            exec(source, ns)  # noqa: S102 - the original's per-step exec of the source string
            exec_ex.finish()

    def trusted_pass(sts):
        trusted.reset()
        for objs in sts:
            trusted.step(objs)

    def sandbox_pass(sts):
        sandboxed.reset()
        for objs in sts:
            sandboxed.step(objs)

    runs = {"exec": (exec_pass, max(1, passes // 8)), "compiled": (trusted_pass, passes),
            "sandbox": (sandbox_pass, passes)}
    best = dict.fromkeys(runs, float("inf"))
    for fn, _ in runs.values():
        fn(states)  # warm up
    gc.collect()
    gc.disable()
    try:
        for _ in range(blocks):  # interleaved, so all three see the same machine load
            for name, (fn, n) in runs.items():
                best[name] = min(best[name], _block(fn, states, n))
    finally:
        gc.enable()
    us = {k: v * 1e6 for k, v in best.items()}
    return {"steps": len(states), "source_lines": len(source.splitlines()),
            "exec_us": round(us["exec"], 2), "compiled_us": round(us["compiled"], 2),
            "sandbox_us": round(us["sandbox"], 2),
            "speedup_vs_exec": round(us["exec"] / us["sandbox"], 1)}


def main(argv=None) -> int:
    from iteach_ros.codepolicy.reference import available, load_reference
    from iteach_ros.sim import TASKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(available()))
    parser.add_argument("--passes", type=int, default=40)
    parser.add_argument("--policy", action="append", default=[], metavar="TASK=FILE",
                        help="also benchmark this CodePolicy file (e.g. generated); repeatable")
    parser.add_argument("--json", help="write the rows as JSON here")
    parser.add_argument("--md", help="write the table as Markdown here")
    args = parser.parse_args(argv)

    rows = []
    jobs = [(t, f"reference {t}", load_reference(t)) for t in args.tasks.split(",") if t]
    for spec in args.policy:
        task, sep, path = spec.partition("=")
        if not sep or task not in TASKS:
            parser.error(f"--policy expects TASK=FILE with a known task, got {spec!r}")
        jobs.append((task, f"{Path(path).name} ({task})", Path(path).read_text(encoding="utf-8")))
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
          "per-step thread CPU time in microseconds (best of 9 interleaved blocks)")
    header = (f"{'program':44} {'lines':>5} {'steps':>5} {'exec src':>9} {'compiled':>9} "
              f"{'sandbox':>8} {'x vs exec':>9}")
    print(header)
    print("-" * len(header))
    for task, label, source in jobs:
        states = record_states(task)
        row = bench(source, TASKS[task].object_names, states, args.passes)
        row["program"] = label
        rows.append(row)
        print(f"{label[:44]:44} {row['source_lines']:5d} {row['steps']:5d} {row['exec_us']:9.1f} "
              f"{row['compiled_us']:9.1f} {row['sandbox_us']:8.1f} {row['speedup_vs_exec']:9.1f}")
    worst = max(r["sandbox_us"] for r in rows)
    slowest_ratio = min(r["speedup_vs_exec"] for r in rows)
    print(f"\nsandboxed step: worst {worst:.1f} us (target <= 50); speed-up vs exec: lowest "
          f"{slowest_ratio:.1f}x (target >= 10)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    if args.md:
        command = " ".join(["python", "benchmarks/bench_codepolicy.py", *(argv or sys.argv[1:])])
        lines = [f"Per-step thread CPU time (us), python {platform.python_version()}, "
                 f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}; `{command}`", "",
                 "| program | lines | steps | exec of source | compiled (contract executor) "
                 "| sandboxed | sandboxed vs exec |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['program']} | {r['source_lines']} | {r['steps']} | {r['exec_us']:.1f} | "
                  f"{r['compiled_us']:.1f} | {r['sandbox_us']:.1f} | {r['speedup_vs_exec']:.1f}x |"
                  for r in rows]
        Path(args.md).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
