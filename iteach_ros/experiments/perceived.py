"""The teacher with perceived instead of privileged object states (open question 3): the
CodePolicy's open-loop success on the same seeds both ways, and how far the perceived positions
are from the simulator's.

    python -m iteach_ros.experiments.perceived --task push_button [--episodes 20] [--policy P]

``--policy``: reference (default), or a CodePolicy file (an LLM-written one); perception:
``iteach_ros.sim.perception`` (depth + segmentation of the over-shoulder camera).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

EVAL_SEED = 900_000


def run(task: str, seeds, policy: str = "reference", perceived: bool = False,
        errors: list | None = None) -> list[tuple[int, bool, int, str]]:
    """(seed, success, steps, failure reason) per seed; ``errors`` receives the perceived
    position's distance to the simulator's, per object and step (m)."""
    from iteach_ros.core.state import GRIPPER
    from iteach_ros.interaction.lockstep import TeacherStream
    from iteach_ros.interaction.loop import run_episode
    from iteach_ros.sim import make_env
    from iteach_ros.sim.perception import PerceivedStates
    from iteach_ros.teacher.service import make_teacher

    env = make_env(task, render_wrist=False)
    if perceived:
        env = PerceivedStates(env)
        if errors is not None:
            inner_observe = env._perceive

            def observe(obs):
                truth = {n: o.position.copy() for n, o in obs.objects.items() if n != GRIPPER}
                out = inner_observe(obs)
                errors.extend(float(np.linalg.norm(out.objects[n].position - p))
                              for n, p in truth.items())
                return out

            env._perceive = observe
    teacher = make_teacher(task, policy, "in_process" if policy == "reference" else "worker")
    stream = TeacherStream(teacher)
    out = []
    try:
        for i, seed in enumerate(seeds):
            res = run_episode(env, seed, episode=i + 1, teacher=stream)
            out.append((seed, bool(res.success), int(res.steps), res.reason or ""))
    finally:
        teacher.close()
        env.close()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="push_button")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--policy", default="reference")
    args = ap.parse_args(argv)
    seeds = range(EVAL_SEED, EVAL_SEED + args.episodes)
    t0 = time.perf_counter()
    privileged = run(args.task, seeds, args.policy)
    t1 = time.perf_counter()
    errors: list[float] = []
    perceived = run(args.task, seeds, args.policy, perceived=True, errors=errors)
    t2 = time.perf_counter()
    err = np.array(errors) * 100
    load = os.getloadavg()[0]
    print(f"task {args.task}, teacher {args.policy}, {args.episodes} seeds from {EVAL_SEED}; "
          f"load {load:.2f}")
    print("| object states | success | wall s |\n|---|---|---|")
    for name, rows, wall in (("privileged", privileged, t1 - t0),
                             ("perceived", perceived, t2 - t1)):
        print(f"| {name} | {sum(r[1] for r in rows)}/{len(rows)} | {wall:.0f} |")
    if err.size:
        print(f"perceived position error: median {np.median(err):.1f} cm, p90 "
              f"{np.percentile(err, 90):.1f} cm, max {err.max():.1f} cm "
              f"({err.size} object-steps)")
    reasons: dict[str, int] = {}
    for r in perceived:
        if not r[1]:
            reasons[r[3]] = reasons.get(r[3], 0) + 1
    print(f"perceived failures: {reasons or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
