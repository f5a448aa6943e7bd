"""How far a policy gets through a multi-stage task: the share of episodes that reach each
stage (e.g. put_rubbish_in_bin: above the rubbish, grasped, lifted, over the bin, released in
it), so a learner's failures can be located instead of only counted.

    python -m iteach_ros.experiments.stages --task put_rubbish_in_bin \
        --policy runs/x/put_rubbish_in_bin/llm_iteach/policy.pt [--episodes 30] [--teacher]

``--teacher`` runs the task's reference CodePolicy instead, as the yardstick. Stages are read
from the simulator's privileged state after every step; the policy never sees them.
``--angles`` also prints, per range of steps, the median angle between the policy's translation
and the one the reference program would command on the same state (where it loses the way).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from iteach_ros.experiments.config import EVAL_SEED_BASE

# A stage: (name, predicate(env, objects) -> bool), in the order an episode passes them.
Stage = tuple[str, Callable]


def _xy_near(a, b, tol: float) -> bool:
    return bool(np.linalg.norm(np.asarray(a)[:2] - np.asarray(b)[:2]) < tol)


STAGES: dict[str, list[Stage]] = {
    "push_button": [
        ("above button", lambda env, o: _xy_near(o["gripper"].position, o["button"].position,
                                                 0.02)),
    ],
    "put_rubbish_in_bin": [
        ("above rubbish", lambda env, o: _xy_near(o["gripper"].position, o["rubbish"].position,
                                                  0.02)),
        ("grasped", lambda env, o: o["rubbish"].gripped),
        ("lifted 8 cm", lambda env, o: o["rubbish"].gripped and o["rubbish"].position[2] > 0.1),
        ("over the bin", lambda env, o: (o["rubbish"].position[2] > 0.1
                                         and env.task.over_bin(env.data))),
    ],
    "take_lid_off_saucepan": [
        ("above lid", lambda env, o: _xy_near(o["gripper"].position, o["lid"].position, 0.02)),
        ("grasped", lambda env, o: o["lid"].gripped),
    ],
    "unplug_charger": [
        ("at charger", lambda env, o: _xy_near(o["gripper"].position, o["charger"].position,
                                               0.02)),
        ("grasped", lambda env, o: o["charger"].gripped),
    ],
}


def episode_stages(env, act, seed: int, stages: list[Stage]) -> tuple[list[bool], bool, str]:
    """One episode from ``env.reset(seed)``; ``act(obs)`` gives the action. Returns which
    stages were reached (each counts once reached, in any order), success and the failure
    reason."""
    obs, info = env.reset(seed=seed)
    reached = [False] * len(stages)
    while True:
        objects = env.object_states()
        for i, (_, reached_now) in enumerate(stages):
            reached[i] = reached[i] or bool(reached_now(env, objects))
        if info["success"]:
            return reached, True, ""
        obs, _, terminated, truncated, info = env.step(act(obs))
        if info["success"]:
            return reached, True, ""
        if terminated or truncated:
            return reached, False, info.get("failure_reason", "ended")


def stage_table(task: str, act_factory, seeds, env) -> dict:
    """Counts per stage over ``seeds``; ``act_factory(env)`` gives a fresh per-episode ``act``."""
    stages = STAGES[task]
    counts = np.zeros(len(stages), dtype=int)
    successes, reasons = 0, {}
    for seed in seeds:
        reached, success, reason = episode_stages(env, act_factory(env), seed, stages)
        counts += np.asarray(reached, dtype=int)
        successes += int(success)
        if not success:
            reasons[reason] = reasons.get(reason, 0) + 1
    return {"episodes": len(seeds), "stages": [s[0] for s in stages],
            "reached": counts.tolist(), "success": successes, "failures": reasons}


ANGLE_BINS = ((0, 10), (10, 20), (20, 40), (40, 80), (80, 10_000))


def angle_profile(task: str, act_factory, seeds, env, bins=ANGLE_BINS) -> list[tuple]:
    """[(first step, last step + 1, median angle in degrees, steps)] over ``seeds``: the policy
    acts; the reference program, stepped on the same states, says what it would command."""
    from iteach_ros.codepolicy.reference import reference_executor
    from iteach_ros.learning.arbiter import translation_angle_deg

    teacher = reference_executor(task)
    angles: dict[tuple, list[float]] = {b: [] for b in bins}
    for seed in seeds:
        act = act_factory(env)
        obs, info = env.reset(seed=seed)
        teacher.reset()
        while not info["success"]:
            action = act(obs)
            wanted = teacher.step(obs.objects).action
            for low, high in bins:
                if low <= obs.step < high:
                    angles[(low, high)].append(translation_angle_deg(action, wanted))
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
    return [(low, high, float(np.nanmedian(a)), len(a)) for (low, high), a in angles.items()
            if a]


def format_table(name: str, table: dict) -> str:
    n = table["episodes"]
    head = "| policy | " + " | ".join(table["stages"]) + " | success | failures |"
    rule = "|---" * (len(table["stages"]) + 3) + "|"
    cells = [f"{c}/{n}" for c in table["reached"]]
    fails = ", ".join(f"{k} {v}" for k, v in sorted(table["failures"].items())) or "-"
    return "\n".join([head, rule, f"| {name} | " + " | ".join(cells)
                      + f" | {table['success']}/{n} | {fails} |"])


def _policy_act_factory(path: str):
    from iteach_ros.learning.buffer import ReplayBuffer
    from iteach_ros.learning.trainer import Trainer

    trainer, _ = Trainer.load_checkpoint(path, ReplayBuffer())
    policy = trainer.policy

    def factory(env):
        policy.reset()
        return lambda obs: policy.select_action(obs.wrist_rgb, obs.proprio)
    factory.image_size = policy.cfg.image_size  # the camera the policy was trained on
    return factory


def _teacher_act_factory(task: str):
    from iteach_ros.codepolicy.reference import reference_executor
    from iteach_ros.sim.rollout import to_env_action

    executor = reference_executor(task)

    def factory(env):
        executor.reset()
        return lambda obs: to_env_action(executor.step(obs.objects).action, env)
    return factory


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iteach_ros.experiments.stages",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="put_rubbish_in_bin", choices=sorted(STAGES))
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--policy", help="a learner checkpoint (policy.pt)")
    group.add_argument("--teacher", action="store_true", help="the reference CodePolicy")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--angles", action="store_true",
                        help="also the median angle to the reference program per step range")
    parser.add_argument("--seed-base", type=int, default=EVAL_SEED_BASE,
                        help="first seed (default: the held-out evaluation seeds)")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    from iteach_ros.sim.env import make_env

    if args.teacher:
        factory = _teacher_act_factory(args.task)
        name = "reference teacher"
        env = make_env(args.task, render_wrist=False)
    else:
        factory = _policy_act_factory(args.policy)
        name = args.policy
        env = make_env(args.task, image_size=factory.image_size)
    seeds = list(range(args.seed_base, args.seed_base + args.episodes))
    print(format_table(name, stage_table(args.task, factory, seeds, env)))
    if args.angles:
        print("\n| steps | median angle to the reference program (deg) | steps measured |\n"
              "|---|---|---|")
        for low, high, median, n in angle_profile(args.task, factory, seeds[:10], env):
            last = "end" if high >= ANGLE_BINS[-1][1] else high - 1
            print(f"| {low}-{last} | {median:.0f} | {n} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
