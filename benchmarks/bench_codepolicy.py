"""Per-step cost of a CodePolicy: exec of the source string (the original LLM-iTeach) vs the
compiled code object (trusted executor) vs the in-process sandbox vs the sandbox worker (the
default for untrusted programs: one pipe round trip per step).

Object states come from one recorded episode of each task's reference program in the simulator
(so every branch of the state machine is exercised as in training); each measurement replays
them, resetting the program at the start of each pass. Two kinds of numbers, each measured side
by side in one run:

- CPU: the calling thread's CPU time per step (robust on a shared machine), the best of 9
  blocks interleaved across exec / compiled / sandbox;
- wall: the distribution (p50, p99) of single steps, in-process sandbox and worker alternating
  step by step (so both see the same machine load), with ``--pace-ms`` of sleep between steps
  as a control loop has (the worker sleeps between steps and must be woken, as in the graph),
  and beside them a bare 64-byte pipe round trip to a Python echo process: the floor any
  worker process has on this machine at this load.

  python benchmarks/bench_codepolicy.py [--tasks push_button,reach_target] [--passes 40]
      [--wall-passes 20] [--pace-ms 1] [--policy TASK=FILE ...] [--no-shipped]
      [--json out.json] [--md out.md]

Targets: sandboxed step <= 50 us CPU and >= 10x faster than exec of the source (issue 4);
worker step p99 <= 1 ms wall including IPC (issue 14; the control period is 50 ms).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iteach_ros.codepolicy.runtime import CodePolicyExecutor  # noqa: E402
from iteach_ros.codepolicy.sandbox import SandboxedPolicy, SandboxError, WorkerPolicy  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[1] / "iteach_ros" / "teacher" / "shipped_policies"


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


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def cpu_costs(source: str, object_names, states, passes: int, blocks: int = 9) -> dict:
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
    return {"exec_us": round(us["exec"], 2), "compiled_us": round(us["compiled"], 2),
            "sandbox_us": round(us["sandbox"], 2),
            "speedup_vs_exec": round(us["exec"] / us["sandbox"], 1)}


_ECHO = ("import os\nwhile True:\n    d = os.read(0, 256)\n    if not d:\n        break\n"
         "    os.write(1, d)\n")


def wall_costs(source: str, object_names, states, passes: int, pace_s: float) -> dict:
    """p50/p99 wall time of single steps: in-process sandbox, worker, and a bare pipe round
    trip to a Python echo process (the machine's floor for any worker), alternating."""
    sandboxed = SandboxedPolicy(source, object_names)
    worker = WorkerPolicy(source, object_names)
    echo = subprocess.Popen([sys.executable, "-c", _ECHO], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    to_echo, from_echo = echo.stdin.fileno(), echo.stdout.fileno()
    box_t, worker_t, pipe_t, failures = [], [], [], []
    clock = time.perf_counter
    try:
        for policy in (sandboxed, worker):  # warm up
            policy.reset()
            for objs in states:
                policy.step(objs)
        for _ in range(passes):
            sandboxed.reset()
            worker.reset()
            for objs in states:
                t0 = clock()
                sandboxed.step(objs)
                t1 = clock()
                try:
                    worker.step(objs)
                except SandboxError as exc:  # counted and reported, the pass goes on
                    failures.append(exc.message)
                    worker.reset()
                t2 = clock()
                box_t.append(t1 - t0)
                worker_t.append(t2 - t1)
                if pace_s:
                    time.sleep(pace_s)
                t0 = clock()
                os.write(to_echo, b"x" * 64)
                os.read(from_echo, 256)
                pipe_t.append(clock() - t0)
                if pace_s:
                    time.sleep(pace_s)
    finally:
        worker.close()
        echo.stdin.close()
        echo.wait(timeout=10)
    return {"sandbox_wall_p50_us": round(_percentile(box_t, 0.5) * 1e6, 1),
            "sandbox_wall_p99_us": round(_percentile(box_t, 0.99) * 1e6, 1),
            "worker_wall_p50_us": round(_percentile(worker_t, 0.5) * 1e6, 1),
            "worker_wall_p99_us": round(_percentile(worker_t, 0.99) * 1e6, 1),
            "worker_wall_max_us": round(max(worker_t) * 1e6, 1),
            "pipe_wall_p50_us": round(_percentile(pipe_t, 0.5) * 1e6, 1),
            "pipe_wall_p99_us": round(_percentile(pipe_t, 0.99) * 1e6, 1),
            "wall_samples": len(worker_t), "worker_failures": failures}


def shipped_policies() -> list[tuple[str, Path]]:
    return [(path.parent.name, path) for path in sorted(SHIPPED.glob("*/*.py"))]


def main(argv=None) -> int:
    from iteach_ros.codepolicy.reference import available, load_reference
    from iteach_ros.sim import TASKS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(available()))
    parser.add_argument("--passes", type=int, default=40, help="CPU blocks: passes per block")
    parser.add_argument("--wall-passes", type=int, default=20, help="wall: passes per program")
    parser.add_argument("--pace-ms", type=float, default=1.0, help="wall: sleep between steps")
    parser.add_argument("--policy", action="append", default=[], metavar="TASK=FILE",
                        help="also benchmark this CodePolicy file (e.g. generated); repeatable")
    parser.add_argument("--no-shipped", action="store_true",
                        help="leave out the shipped generated policies")
    parser.add_argument("--json", help="write the rows as JSON here")
    parser.add_argument("--md", help="write the table as Markdown here")
    args = parser.parse_args(argv)

    jobs = [(t, f"reference {t}", load_reference(t)) for t in args.tasks.split(",") if t]
    files = [] if args.no_shipped else [(t, p, "shipped ") for t, p in shipped_policies()]
    for spec in args.policy:
        task, sep, path = spec.partition("=")
        if not sep or task not in TASKS:
            parser.error(f"--policy expects TASK=FILE with a known task, got {spec!r}")
        files.append((task, Path(path), ""))
    jobs += [(task, f"{prefix}{path.name} ({task})", path.read_text(encoding="utf-8"))
             for task, path, prefix in files]
    load0 = os.getloadavg()
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}; CPU: per-step thread CPU "
          f"time (best of 9 interleaved blocks); wall: single steps, sandbox and worker "
          f"alternating, {args.pace_ms:g} ms apart; microseconds")
    header = (f"{'program':44} {'steps':>5} {'exec':>7} {'compiled':>8} {'sandbox':>7} "
              f"{'x exec':>6} | {'sandbox p50/p99':>15} {'worker p50/p99':>15} "
              f"{'pipe p50/p99':>15}")
    print(header)
    print("-" * len(header))
    rows = []
    for task, label, source in jobs:
        states = record_states(task)
        names = TASKS[task].object_names
        row = {"program": label, "steps": len(states), "source_lines": len(source.splitlines())}
        row.update(cpu_costs(source, names, states, args.passes))
        row.update(wall_costs(source, names, states, args.wall_passes, args.pace_ms / 1e3))
        rows.append(row)
        print(f"{label[:44]:44} {row['steps']:5d} {row['exec_us']:7.1f} {row['compiled_us']:8.1f} "
              f"{row['sandbox_us']:7.1f} {row['speedup_vs_exec']:6.1f} | "
              f"{row['sandbox_wall_p50_us']:7.1f}/{row['sandbox_wall_p99_us']:<7.1f} "
              f"{row['worker_wall_p50_us']:7.1f}/{row['worker_wall_p99_us']:<7.1f} "
              f"{row['pipe_wall_p50_us']:7.1f}/{row['pipe_wall_p99_us']:<7.1f}", flush=True)
    load1 = os.getloadavg()
    worst = max(r["sandbox_us"] for r in rows)
    slowest_ratio = min(r["speedup_vs_exec"] for r in rows)
    worst_p99 = max(r["worker_wall_p99_us"] for r in rows)
    failed = [(r["program"], f) for r in rows for f in r["worker_failures"]]
    for program, message in failed:
        print(f"worker step failed: {program}: {message}")
    print(f"\nsandboxed step: worst {worst:.1f} us CPU (target <= 50); speed-up vs exec: lowest "
          f"{slowest_ratio:.1f}x (target >= 10); worker step p99: worst {worst_p99:.0f} us wall "
          f"(target <= 1000); load average at the end {load1[0]:.2f} {load1[1]:.2f} "
          f"{load1[2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"load_average_start": load0, "load_average_end": load1, "rows": rows}, indent=2)
            + "\n")
    if args.md:
        command = " ".join(["python", "benchmarks/bench_codepolicy.py", *(argv or sys.argv[1:])])
        lines = [f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
                 f"{load0[0]:.2f} at the start and {load1[0]:.2f} at the end; `{command}`", "",
                 "CPU: per-step thread CPU time, best of 9 interleaved blocks. Wall: single "
                 f"steps ({rows[0]['wall_samples'] if rows else 0}+ per program), in-process "
                 f"sandbox, worker and a bare pipe round trip to a Python echo process (the "
                 f"machine's floor for any worker) alternating, {args.pace_ms:g} ms apart; the "
                 "worker's includes its pipe round trip. Microseconds.", "",
                 "| program | steps | exec of source (CPU) | compiled (CPU) | sandboxed (CPU) "
                 "| sandboxed vs exec | sandboxed wall p50 / p99 | worker wall p50 / p99 "
                 "| bare pipe p50 / p99 |",
                 "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['program']} | {r['steps']} | {r['exec_us']:.1f} | "
                  f"{r['compiled_us']:.1f} | {r['sandbox_us']:.1f} | {r['speedup_vs_exec']:.1f}x | "
                  f"{r['sandbox_wall_p50_us']:.0f} / {r['sandbox_wall_p99_us']:.0f} | "
                  f"{r['worker_wall_p50_us']:.0f} / {r['worker_wall_p99_us']:.0f} | "
                  f"{r['pipe_wall_p50_us']:.0f} / {r['pipe_wall_p99_us']:.0f} |"
                  for r in rows]
        lines += ["", f"Worker steps that failed: {len(failed)}"] + [
            f"- {program}: {message}" for program, message in failed]
        Path(args.md).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
