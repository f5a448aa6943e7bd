"""The one place that configures offscreen rendering; imported before MuJoCo is.

``MUJOCO_GL=egl`` (unless set) lets the wrist camera render without a display.
``LP_NUM_THREADS=0`` (unless set): Mesa's software rasteriser draws in the calling thread,
which for a 128x128 image is faster than handing it to raster threads and leaves the other cores
to other processes (measured with ``benchmarks/bench_sim.py``; see docs/benchmarks.md).
Subprocesses inherit both.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "0")
