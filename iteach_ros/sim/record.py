"""Episode recorder: a GIF (or MP4) of the front and wrist cameras side by side, for people.

    python -m iteach_ros.sim.record --task push_button --seed 0 --out media/
    python -m iteach_ros.sim.record --all --out media/

By default the task's reference program (iteach_ros.codepolicy.reference) drives the arm;
``--program FILE`` runs another CodePolicy source instead. GIFs need only imageio + Pillow;
``--format mp4`` also needs the ``imageio-ffmpeg`` package.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from iteach_ros.codepolicy.runtime import CodePolicyExecutor
from iteach_ros.sim.env import make_env
from iteach_ros.sim.rollout import EpisodeResult, run_policy_episode
from iteach_ros.sim.tasks import TASKS


def _label(frame: np.ndarray, success: bool | None) -> np.ndarray:
    """A thin coloured bar at the bottom: grey while running, green on success."""
    out = frame.copy()
    if success is not None:
        out[-6:] = (40, 200, 60) if success else (150, 150, 150)
    return out


def record_episode(env, executor: CodePolicyExecutor, seed: int | None, path: str | Path, *,
                   size: int = 160, every: int = 2, fps: float = 10.0) -> EpisodeResult:
    """Run one episode and write front|wrist frames (every ``every``-th step) to ``path``."""
    import imageio.v2 as imageio

    frames: list[np.ndarray] = []
    state = {"success": False}

    def grab(e, obs):
        if obs.step % every == 0:
            both = np.concatenate([e.render("front", size), e.render("wrist", size)], axis=1)
            frames.append(_label(both, state["success"]))

    def record(e, obs):
        state["success"] = bool(e.task.success(e.model, e.data, e))
        grab(e, obs)

    result = run_policy_episode(env, executor, seed, record=record)
    for _ in range(max(1, int(fps))):  # hold the last frame for about a second
        frames.append(_label(np.concatenate([env.render("front", size),
                                             env.render("wrist", size)], axis=1),
                             result.success))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError as exc:
            raise RuntimeError("MP4 output needs the imageio-ffmpeg package "
                               "(pip install imageio-ffmpeg); GIF works without it") from exc
        imageio.mimsave(path, frames, fps=fps, macro_block_size=1)
    else:
        imageio.mimsave(path, frames, duration=1000.0 / fps, loop=0)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Record a reference episode as GIF/MP4.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--task", choices=sorted(TASKS), help="task to record")
    which.add_argument("--all", action="store_true", help="record every task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="media", help="output folder")
    parser.add_argument("--program", help="CodePolicy source file (default: reference)")
    parser.add_argument("--format", choices=("gif", "mp4"), default="gif")
    parser.add_argument("--size", type=int, default=160, help="pixels per camera view")
    parser.add_argument("--every", type=int, default=2, help="keep every n-th control step")
    parser.add_argument("--max-steps", dest="max_steps", type=int,
                        help="control steps before the episode is cut (default: the task's)")
    args = parser.parse_args(argv)
    if args.max_steps is not None and args.max_steps <= 0:
        parser.error(f"--max-steps must be positive, got {args.max_steps}")

    tasks = sorted(TASKS) if args.all else [args.task]
    failures = 0
    for task in tasks:
        if args.program:
            source = Path(args.program).read_text(encoding="utf-8")
            executor = CodePolicyExecutor(source, filename=args.program)
        else:
            from iteach_ros.codepolicy.reference import reference_executor

            executor = reference_executor(task)
        env = make_env(task, render_wrist=False, max_steps=args.max_steps)
        path = Path(args.out) / f"{task}_seed{args.seed}.{args.format}"
        try:
            result = record_episode(env, executor, args.seed, path, size=args.size,
                                    every=args.every)
        finally:
            env.close()
        failures += not result.success
        size_kb = path.stat().st_size / 1024
        print(f"{path}: {'success' if result.success else 'FAILED'} in {result.steps} steps, "
              f"{size_kb:.0f} KiB")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
