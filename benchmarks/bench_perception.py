"""Milliseconds per perception estimate (sim.perception: two 256 px renders of the over-shoulder
camera, the label image, back-projection, centroids), and where they go, side by side in one
run: the label image built by comparing the segmentation with MuJoCo's object-type enum itself
(per element in Python, the earlier code) and with its integer value (the code now).

Run: ``.venv/bin/python benchmarks/bench_perception.py [--frames 30] [--tasks push_button,...]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def ms_per_call(fn, frames: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(frames):
        fn()
    return (time.perf_counter() - start) / frames * 1000


def measure(task: str, frames: int) -> dict[str, float]:
    from iteach_ros.sim import make_env  # first: it chooses MuJoCo's GL platform
    from iteach_ros.sim.perception import Perception, mujoco

    env = make_env(task, render_wrist=False)
    env.reset(seed=900_000)
    perception = Perception(env)
    rig, d = perception.rig, env.data
    seg = rig.seg
    seg.update_scene(d, rig.camera)
    segmentation = seg.render()

    def renders():
        rig.depth.update_scene(d, rig.camera)
        rig.depth.render()
        seg.update_scene(d, rig.camera)
        seg.render()

    def labels_with_enum():
        geom = np.where(segmentation[..., 1] == mujoco.mjtObj.mjOBJ_GEOM,
                        segmentation[..., 0], -1)
        return rig.geom_label[geom]

    def labels_with_int():
        geom = np.where(segmentation[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM),
                        segmentation[..., 0], -1)
        return rig.geom_label[geom]

    assert np.array_equal(labels_with_enum(), labels_with_int())
    out = {"two renders": ms_per_call(renders, frames),
           "labels (enum compare)": ms_per_call(labels_with_enum, frames),
           "labels (int compare)": ms_per_call(labels_with_int, frames),
           "estimate (now)": ms_per_call(perception.estimate, frames)}
    perception.close()
    env.close()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--tasks", default="push_button,close_microwave")
    args = ap.parse_args(argv)
    rows = {task: measure(task, args.frames) for task in args.tasks.split(",")}
    print(f"load average {os.getloadavg()[0]:.2f}, {args.frames} frames each")
    columns = list(next(iter(rows.values())))
    print("| task | " + " | ".join(f"{c} ms" for c in columns) + " | earlier estimate / now |")
    print("|---|" + "---|" * (len(columns) + 1))
    for task, r in rows.items():
        earlier = r["estimate (now)"] - r["labels (int compare)"] + r["labels (enum compare)"]
        print(f"| {task} | " + " | ".join(f"{r[c]:.1f}" for c in columns)
              + f" | {earlier / r['estimate (now)']:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
