"""Control steps per second of the MuJoCo task environments, with and without the wrist camera.

Run: ``.venv/bin/python benchmarks/bench_sim.py [--steps 300] [--tasks push_button,...]
[--max-steps N]``.
Each measurement runs the task's reference program (so the arm moves and objects touch) for
``--steps`` control steps (several episodes if needed) and reports steps/s of ``env.step``
plus the program (the teacher's per-step cost is included; it is small).
Targets on the 2-core development machine (issue 3): >= 100 steps/s with the 128x128 wrist
camera, >= 400 without.
"""

from __future__ import annotations

import argparse
import sys
import time

from iteach_ros.codepolicy.reference import reference_executor
from iteach_ros.sim import TASKS, make_env

TARGET_WITH_CAMERA = 100.0
TARGET_WITHOUT_CAMERA = 400.0


def steps_per_second(task: str, render_wrist: bool, steps: int,
                     max_steps: int | None = None) -> float:
    env = make_env(task, render_wrist=render_wrist, max_steps=max_steps)
    executor = reference_executor(task)
    seed, done, elapsed = 0, 0, 0.0
    while done < steps:
        obs, _ = env.reset(seed=seed)
        executor.reset()
        start = time.perf_counter()
        while done < steps:
            obs, _, terminated, truncated, _ = env.step(executor.step(obs.objects).action)
            done += 1
            if terminated or truncated:
                break
        elapsed += time.perf_counter() - start
        seed += 1
    env.close()
    return done / elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="control steps per measurement")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--max-steps", dest="max_steps", type=int,
                        help="episode step limit (default: the task's)")
    args = parser.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    print(f"{'task':<24}{'steps/s wrist cam':>18}{'steps/s no cam':>16}")
    ok = True
    for task in tasks:
        with_cam = steps_per_second(task, True, args.steps, args.max_steps)
        without = steps_per_second(task, False, args.steps, args.max_steps)
        ok &= with_cam >= TARGET_WITH_CAMERA and without >= TARGET_WITHOUT_CAMERA
        print(f"{task:<24}{with_cam:>18.0f}{without:>16.0f}", flush=True)
    print(f"{'target':<24}{TARGET_WITH_CAMERA:>18.0f}{TARGET_WITHOUT_CAMERA:>16.0f}")
    print("all targets met" if ok else "some targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
