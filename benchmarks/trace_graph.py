"""Where a control step's time goes in the ROS 2 graph: a timeline of one lock-step cycle.

    .venv/bin/python benchmarks/trace_graph.py [--task reach_target] [--episodes 10]

Runs the four nodes as separate processes (train=false, as bench_graph.py does), each started
through this script, which wraps the node's callbacks to record CLOCK_MONOTONIC timestamps (one
clock for all processes) and writes them when the node exits. Prints the median time of each
event after the observation is published, and the segments of the critical path: simulator
step, publishing, the three hops, inference and the arbiter's decision.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import importlib
import inspect
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from md_report import write_markdown

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TRACE_DIR = "ITEACH_TRACE_DIR"


def _wrap(events: list, cls, name: str, key) -> None:
    """Record (t_ns, 'name:in'/'name:out', episode, step) around ``cls.name``."""
    static = isinstance(inspect.getattr_static(cls, name), staticmethod)
    original = getattr(cls, name)

    @functools.wraps(original)
    def traced(*args):
        k = key(*args)
        events.append((time.monotonic_ns(), f"{name}:in", *k))
        try:
            return original(*args)
        finally:
            events.append((time.monotonic_ns(), f"{name}:out", *k))

    setattr(cls, name, staticmethod(traced) if static else traced)


def run_traced_node(module_name: str, ros_args: list[str]) -> int:
    """Node mode: the node's main() with its callbacks traced."""
    module = importlib.import_module(module_name)
    node = module_name.rsplit(".", 1)[1].removesuffix("_node")
    events: list = []
    out = Path(os.environ[TRACE_DIR]) / f"{node}.json"
    atexit.register(lambda: out.write_text(json.dumps(events)))
    msg_key = lambda self, msg: (msg.episode, msg.step)  # noqa: E731
    unkeyed = lambda *args: (0, 0)  # noqa: E731
    if node == "sim_bridge":
        from iteach_ros.sim.env import MujocoTaskEnv

        _wrap(events, module.SimBridgeNode, "executed_callback", msg_key)
        _wrap(events, module.SimBridgeNode, "_send", msg_key)
        _wrap(events, MujocoTaskEnv, "step", unkeyed)
    elif node == "learner":
        from iteach_ros.learning.trainer import Trainer

        # answer(): inference done, the action about to be published
        _wrap(events, module.LearnerNode, "answer", lambda pl, obs, action: (obs.episode,
                                                                              obs.step))
        _wrap(events, module.LearnerNode, "observation_callback",
              lambda self, s, msg: (msg.episode, msg.step))
        _wrap(events, Trainer, "act", unkeyed)
    elif node == "teacher":
        _wrap(events, module.TeacherNode, "observation_callback", msg_key)
    elif node == "arbiter":
        _wrap(events, module.ArbiterNode, "agent_callback", msg_key)
        _wrap(events, module.ArbiterNode, "teacher_callback", msg_key)
    sys.argv = [module_name, *ros_args]
    return module.main()


def _durations(events, name: str) -> np.ndarray:
    ins = [t for t, n, *_ in events if n == f"{name}:in"]
    outs = [t for t, n, *_ in events if n == f"{name}:out"]
    n = min(len(ins), len(outs))
    return (np.array(outs[:n]) - np.array(ins[:n]))[10:] * 1e-6


def report(trace_dir: Path) -> list[str]:
    per_node = {n: json.loads((trace_dir / f"{n}.json").read_text())
                for n in ("sim_bridge", "teacher", "arbiter", "learner")}
    at = defaultdict(dict)  # (episode, step) -> event -> first time
    for node, events in per_node.items():
        for t, name, episode, step in events:
            if episode or step:
                at[(episode, step)].setdefault(f"{node}.{name}", t)
    sends = sorted(k for k, v in at.items() if "sim_bridge._send:in" in v)[10:]
    order = ["sim_bridge._send:out", "teacher.observation_callback:in",
             "teacher.observation_callback:out", "arbiter.teacher_callback:in",
             "learner.observation_callback:in", "learner.answer:in", "arbiter.agent_callback:in",
             "arbiter.agent_callback:out", "sim_bridge.executed_callback:in"]
    rel = defaultdict(list)
    for k in sends:
        t0 = at[k]["sim_bridge._send:in"]
        for name in order:
            if name in at[k]:
                rel[name].append((at[k][name] - t0) * 1e-6)
    starts = np.array(sorted(at[k]["sim_bridge._send:in"] for k in sends))
    period = float(np.median(np.diff(starts))) * 1e-6
    lines = ["| event, after the observation is published | median (ms) |", "|---|---|"]
    lines += [f"| {name} | {np.median(rel[name]):.2f} |" for name in order if rel[name]]
    env = _durations(per_node["sim_bridge"], "step")
    inference = _durations(per_node["learner"], "act")
    sim_cb = _durations(per_node["sim_bridge"], "executed_callback")
    med = {n: float(np.median(v)) for n, v in rel.items()}
    segments = [
        ("simulator: env.step (physics + wrist camera)", float(np.median(env))),
        ("simulator: rest of the step (message, bookkeeping)",
         float(np.median(sim_cb)) - float(np.median(env)) - med["sim_bridge._send:out"]),
        ("simulator: publish the observation", med["sim_bridge._send:out"]),
        ("hop: observation -> learner",
         med["learner.observation_callback:in"] - med["sim_bridge._send:out"]),
        ("learner: inference (Trainer.act)", float(np.median(inference))),
        ("learner: rest (image, message, publish)", med["learner.answer:in"]
         - med["learner.observation_callback:in"] - float(np.median(inference))),
        ("hop: agent action -> arbiter",
         med["arbiter.agent_callback:in"] - med["learner.answer:in"]),
        ("arbiter: decide, publish executed + feedback",
         med["arbiter.agent_callback:out"] - med["arbiter.agent_callback:in"]),
    ]
    lines += ["", f"median step period: {period:.2f} ms ({1e3 / period:.0f} steps/s)", "",
              "| critical-path segment | median (ms) |", "|---|---|"]
    lines += [f"| {name} | {ms:.2f} |" for name, ms in segments]
    rest = period - sum(ms for _, ms in segments)
    lines.append(f"| hop: executed action -> simulator, and what the medians miss | {rest:.2f} |")
    return lines


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--node":
        return run_traced_node(argv[1], argv[2:])
    from iteach_ros.ros.launcher import Graph, build_processes

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="reach_target")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--md", help="also write the tables as Markdown here")
    args = ap.parse_args(argv)
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
    with tempfile.TemporaryDirectory() as tmp:
        env[TRACE_DIR] = tmp
        specs = build_processes({"task": args.task, "episodes": str(args.episodes)},
                                parameters={"learner": {"train": False}})
        for spec in specs:  # python -m <module> ... -> python trace_graph.py --node <module> ...
            i = spec.cmd.index("-m")
            spec.cmd[i:i + 2] = [str(Path(__file__).resolve()), "--node", spec.cmd[i + 1]]
        graph = Graph(specs, env=env, echo=False).start()
        try:
            graph.wait_for(["sim_bridge"])
        finally:
            graph.stop()
        if graph.failed():
            print({n: graph.lines[n][-5:] for n in graph.failed()})
            return 1
        lines = [f"task {args.task}, {args.episodes} episodes, train=false; {os.cpu_count()} "
                 f"CPUs, load avg {os.getloadavg()[0]:.1f}", "", *report(Path(tmp))]
    print("\n".join(lines))
    if args.md:
        write_markdown(args.md, "trace_graph.py", argv, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
