"""The project's own launcher for pip installs (launch_ros is not on PyPI).

    python -m iteach_ros.ros.launcher --task push_button --episodes 5 [--pipelines 2] [--record]

It builds the same graph as launch/iteach.launch.py from the same description
(iteach_ros.ros.graph): one sim_bridge + teacher + arbiter per pipeline namespace, one learner
serving all pipelines, optionally a recorder. Each node is its own process; their output is
prefixed with the node's name. When every sim_bridge has finished its episodes the others are
stopped with SIGINT (so checkpoints and bags are closed cleanly).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from iteach_ros.ros.graph import (
    GRAPH_ARGUMENTS,
    LAUNCH_ARGUMENTS,
    NODE_BY_NAME,
    POLICY,
    RECORDER,
    node_overrides,
    pipeline_namespaces,
    started_nodes,
)

DEFAULT_PARAMS = Path(__file__).resolve().parents[2] / "config" / "iteach.yaml"


@dataclass
class ProcessSpec:
    name: str  # e.g. "pipe0/sim_bridge"
    node: str
    cmd: list[str]


def _param_arg(name: str, value) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = "[" + ",".join(f"'{v}'" if isinstance(v, str) else str(v) for v in value) + "]"
    elif value == "":
        text = "''"  # rcl refuses an empty override; YAML's empty string
    else:
        text = str(value)
    return f"{name}:={text}"


def find_params_file(explicit: str = "") -> Path | None:
    """The YAML parameters: explicit, else the copy beside this module's sources (a checkout:
    the one that matches the code), else the package's share/ copy (an install)."""
    if explicit:
        return Path(explicit)
    if DEFAULT_PARAMS.is_file():
        return DEFAULT_PARAMS
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) + [sys.prefix]:
        candidate = Path(prefix, "share", "iteach_ros", "config", "iteach.yaml")
        if prefix and candidate.is_file():
            return candidate
    return None


def build_processes(arguments: dict[str, str], pipelines: int = 1, record: bool = False,
                    params_file: str = "", record_output: str = "",
                    python: str = sys.executable,
                    parameters: dict[str, dict] | None = None) -> list[ProcessSpec]:
    """The command line of every node process of the graph; ``parameters`` ({node: {name:
    value}}) overrides further parameters beyond the launch arguments."""
    overrides = node_overrides(arguments)
    for node, values in (parameters or {}).items():
        overrides.setdefault(node, {}).update(values)
    namespaces = pipeline_namespaces(pipelines)
    params = find_params_file(params_file)
    specs = []

    def command(node, ns: str, extra: dict) -> list[str]:
        cmd = [python, "-m", node.module, "--ros-args", "-r", f"__node:={node.name}"]
        if ns:
            cmd += ["-r", f"__ns:=/{ns}"]  # the launcher is the top level: no outer namespace
        if params is not None:
            cmd += ["--params-file", str(params)]
        for name, value in {**overrides.get(node.name, {}), **extra}.items():
            cmd += ["-p", _param_arg(name, value)]
        return cmd

    for node in started_nodes(arguments):
        if node.per_pipeline:
            for k, ns in enumerate(namespaces):
                label = f"{ns}/{node.name}" if ns else node.name
                extra = {"pipeline_index": k} if "pipeline_index" in node.parameters else {}
                specs.append(ProcessSpec(label, node.name, command(node, ns, extra)))
        else:
            extra = {"pipelines": namespaces} if node.name == "learner" else {}
            specs.append(ProcessSpec(node.name, node.name, command(node, "", extra)))
    if record:
        extra = {"namespaces": namespaces}
        if record_output:
            extra["output"] = record_output
        specs.append(ProcessSpec(RECORDER.name, RECORDER.name, command(RECORDER, "", extra)))
    return specs


def build_robot_processes(parameters: dict[str, dict], params_file: str = "",
                          python: str = sys.executable) -> list[ProcessSpec]:
    """A deployed policy against the simulator through the robot contract only: sim_bridge
    with ``command_interface: robot`` and the ``policy`` node (``parameters``: {node: {name:
    value}}, the policy's ``checkpoint`` at least)."""
    params = find_params_file(params_file)
    sim = {**parameters.get("sim_bridge", {}), "command_interface": "robot"}
    specs = []
    for spec, values in ((NODE_BY_NAME["sim_bridge"], sim),
                         (POLICY, parameters.get("policy", {}))):
        cmd = [python, "-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}"]
        if params is not None:
            cmd += ["--params-file", str(params)]
        for name, value in values.items():
            cmd += ["-p", _param_arg(name, value)]
        specs.append(ProcessSpec(spec.name, spec.name, cmd))
    return specs


class Graph:
    """Running node processes with prefixed output."""

    def __init__(self, specs: list[ProcessSpec], env: dict | None = None, echo: bool = True):
        self.specs = specs
        self.env = env
        self.echo = echo
        self.procs: dict[str, subprocess.Popen] = {}
        self.lines: dict[str, list[str]] = {}
        self._threads = []

    def start(self, only: list[str] | None = None) -> Graph:
        for spec in self.specs:
            if only is not None and spec.name not in only:
                continue
            proc = subprocess.Popen(spec.cmd, env=self.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1)
            self.procs[spec.name] = proc
            self.lines.setdefault(spec.name, [])
            t = threading.Thread(target=self._pump, args=(spec.name, proc), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _pump(self, name: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines[name].append(line.rstrip("\n"))
            if self.echo:
                print(f"[{name}] {line}", end="", flush=True)

    def stop(self, names: list[str] | None = None, sig=signal.SIGINT, timeout: float = 15.0):
        targets = [n for n in (names or list(self.procs)) if self.procs[n].poll() is None]
        for n in targets:
            self.procs[n].send_signal(sig)
        deadline = time.monotonic() + timeout
        for n in targets:
            try:
                self.procs[n].wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.procs[n].kill()
                self.procs[n].wait()

    def wait_for(self, names: list[str], timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for n in names:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                self.procs[n].wait(remaining)
            except subprocess.TimeoutExpired:
                return False
        return True

    def failed(self) -> dict[str, int]:
        """Processes that ended other than cleanly (polled: a dead one is seen at once)."""
        return {n: p.returncode for n, p in self.procs.items()
                if p.poll() not in (None, 0, -signal.SIGINT)}

    def run(self, timeout: float = 0.0, tick=None, log=print) -> str:
        """Until every simulator has finished its episodes, any other node ends (every node is
        required: the graph cannot go on without it), or ``timeout`` seconds (0: none) pass;
        then the rest is stopped. Returns why it ended ("done", "<node> exited with <code>:
        <its last lines>", "timeout after ...", "interrupted"). ``tick()`` runs every 0.2 s."""
        bridges = [s.name for s in self.specs if s.node == "sim_bridge"]
        deadline = time.monotonic() + timeout if timeout else None
        reason = "done"
        try:
            while any(self.procs[b].poll() is None for b in bridges):
                ended = {n: p.returncode for n, p in self.procs.items()
                         if p.poll() is not None and (n not in bridges or p.returncode != 0)}
                if ended:
                    name, code = next(iter(ended.items()))
                    last = " | ".join(self.lines.get(name, [])[-3:])
                    reason = f"{name} exited with {code}: {last}"
                    break
                if deadline is not None and time.monotonic() > deadline:
                    reason = f"timeout after {timeout:.0f} s"
                    break
                if tick is not None:
                    tick()
                time.sleep(0.2)
        except KeyboardInterrupt:
            reason = "interrupted"
        if reason != "done":
            log(f"[launcher] {reason}; stopping the graph")
        self.stop()
        return reason

    def tail(self, name: str, lines: int = 10) -> str:
        return "\n".join(self.lines.get(name, [])[-lines:])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m iteach_ros.ros.launcher",
                                description=__doc__.split("\n\n")[0])
    for arg in LAUNCH_ARGUMENTS:
        p.add_argument(f"--{arg.name.replace('_', '-')}", default=arg.default,
                       help=f"{arg.doc} (default: config/iteach.yaml)")
    p.add_argument("--pipelines", type=int, default=int(GRAPH_ARGUMENTS["pipelines"][0]),
                   help=GRAPH_ARGUMENTS["pipelines"][1])
    p.add_argument("--record", action="store_true", help=GRAPH_ARGUMENTS["record"][1])
    p.add_argument("--record-output", default="", help="bag path for --record")
    p.add_argument("--params-file", default="", help=GRAPH_ARGUMENTS["params_file"][1])
    p.add_argument("--out", default="", help="write episodes.csv (every episode's outcome) here")
    p.add_argument("--timeout", type=float, default=0.0,
                   help="stop everything after this many seconds (0: no limit)")
    return p


def main(argv=None) -> int:
    from iteach_ros.ros.episode_log import EpisodeLog, summary_table, write_csv

    args = build_parser().parse_args(argv)
    arguments = {a.name: getattr(args, a.name) for a in LAUNCH_ARGUMENTS}
    specs = build_processes(arguments, args.pipelines, args.record, args.params_file,
                            args.record_output)
    graph = Graph(specs)
    print(f"[launcher] starting {len(specs)} processes: {', '.join(s.name for s in specs)}",
          flush=True)
    log = EpisodeLog(pipeline_namespaces(args.pipelines))
    graph.start()
    graph.run(args.timeout, log=lambda line: print(line, flush=True))
    rows = log.close()
    if args.out and rows:
        write_csv(rows, Path(args.out) / "episodes.csv")
    print(f"[launcher] episodes:\n{summary_table(rows)}", flush=True)
    failed = graph.failed()
    if failed:
        print(f"[launcher] processes that failed: {failed}", flush=True)
        return 1
    print("[launcher] all nodes stopped cleanly", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
