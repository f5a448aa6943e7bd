"""One description of the graph: the YAML parameters, the launch file and the pip launcher agree.

launch / launch_ros are not on any package registry, so the launch file is exercised against
small stand-ins for their classes that record what the launch file asks for (they stand in for
the ROS install users have; the pip launcher, tested for real elsewhere, reads the same graph).
"""

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import yaml

from iteach_ros.ros.graph import LAUNCH_ARGUMENTS, NODES, RECORDER, coerce, node_overrides

ROOT = Path(__file__).resolve().parents[1]


def test_yaml_matches_the_declared_parameters():
    config = yaml.safe_load((ROOT / "config" / "iteach.yaml").read_text())
    for spec in NODES + (RECORDER,):
        section = config[f"/**/{spec.name}"]["ros__parameters"]
        assert section == spec.parameters, spec.name
    assert set(config) == {f"/**/{s.name}" for s in NODES + (RECORDER,)}


def test_launch_arguments_are_typed_like_the_parameters():
    out = node_overrides({"task": "close_microwave", "beta": "90", "episodes": "4"})
    assert out["sim_bridge"] == {"task": "close_microwave", "episodes": 4}
    assert out["teacher"] == {"task": "close_microwave"}
    assert out["arbiter"] == {"beta_deg": 90.0}
    with pytest.raises(ValueError):
        coerce(True, "maybe")
    for arg in LAUNCH_ARGUMENTS:  # every argument sets a declared parameter
        for node, param in arg.sets:
            assert param in next(n for n in NODES if n.name == node).parameters


class _Recorder:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _stand_in_launch(monkeypatch, values):
    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return values[self.name]

    mods = {
        "launch": types.SimpleNamespace(LaunchDescription=lambda actions: actions),
        "launch.actions": types.SimpleNamespace(DeclareLaunchArgument=_Recorder,
                                                OpaqueFunction=_Recorder),
        "launch.substitutions": types.SimpleNamespace(LaunchConfiguration=LaunchConfiguration),
        "launch_ros": types.SimpleNamespace(),
        "launch_ros.actions": types.SimpleNamespace(Node=_Recorder),
    }
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)


def test_launch_file_builds_the_launchers_graph(monkeypatch, tmp_path):
    from iteach_ros.ros.launcher import build_processes

    values = {a.name: a.default for a in LAUNCH_ARGUMENTS}
    values.update(task="unplug_charger", beta="90.0", pipelines="2", record="true",
                  params_file=str(tmp_path / "p.yaml"))
    _stand_in_launch(monkeypatch, values)
    spec = importlib.util.spec_from_file_location("iteach_launch",
                                                  ROOT / "launch" / "iteach.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    actions = module.generate_launch_description()
    declared = {a.args[0] for a in actions if a.args and isinstance(a.args[0], str)}
    assert {"task", "beta", "mode", "backend", "pipelines", "record"} <= declared
    opaque = next(a for a in actions if "function" in a.kwargs)
    nodes = opaque.kwargs["function"](context=None)
    launched = sorted((n.kwargs["namespace"], n.kwargs["executable"]) for n in nodes)

    procs = build_processes({"task": "unplug_charger", "beta": "90.0"}, pipelines=2,
                            record=True, params_file=str(tmp_path / "p.yaml"))
    expected = []
    for p in procs:
        ns = next((a.split(":=")[1] for a in p.cmd if a.startswith("__ns:=")), "")
        expected.append((ns, p.node))
    assert launched == sorted(expected)
    arbiter = next(n for n in nodes if n.kwargs["executable"] == "arbiter")
    assert arbiter.kwargs["parameters"][1] == {"beta_deg": 90.0}
    learner = next(n for n in nodes if n.kwargs["executable"] == "learner")
    assert learner.kwargs["parameters"][1]["pipelines"] == ["/pipe0", "/pipe1"]
    learner_cmd = next(p.cmd for p in procs if p.node == "learner")
    assert "pipelines:=['/pipe0','/pipe1']" in learner_cmd


def test_node_executables_exist_for_ros2_run():
    for spec in NODES + (RECORDER,):
        script = ROOT / "nodes" / spec.name
        assert script.is_file() and script.stat().st_mode & 0o111, spec.name
        assert spec.module in script.read_text()
