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

from iteach_ros.ros.graph import LAUNCH_ARGUMENTS, NODES, STANDALONE, coerce, node_overrides

ROOT = Path(__file__).resolve().parents[1]


def test_yaml_matches_the_declared_parameters():
    config = yaml.safe_load((ROOT / "config" / "iteach.yaml").read_text())
    for spec in NODES + STANDALONE:
        section = config[f"/**/{spec.name}"]["ros__parameters"]
        assert section == spec.defaults(), spec.name
    assert set(config) == {f"/**/{s.name}" for s in NODES + STANDALONE}


def test_launch_arguments_are_typed_like_the_parameters():
    out = node_overrides({"task": "close_microwave", "beta": "90", "episodes": "4"})
    assert out["sim_bridge"] == {"task": "close_microwave", "episodes": 4}
    assert out["teacher"] == {"task": "close_microwave"}
    assert out["arbiter"] == {"beta_deg": 90.0}
    assert node_overrides({"beta": "20.0", "task": "push_button"}) == {}  # at their defaults
    with pytest.raises(ValueError):
        coerce(True, "maybe")
    for bad in ({"episodes": "-3"}, {"beta": "-5"}, {"mode": "bogus"}, {"train": "perhaps"}):
        with pytest.raises(ValueError, match=f"launch argument {next(iter(bad))}"):
            node_overrides(bad)


def test_the_docs_parameter_table_is_generated_from_the_graph():
    from iteach_ros.ros import graph

    doc = graph.parameter_doc().read_text()
    assert graph.with_parameter_table(doc) == doc, "run python -m iteach_ros.ros.graph"
    for spec in NODES:
        for name, p in spec.parameters.items():
            assert p.doc and (p.dynamic or name in graph.parameter_table()), name
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
        "launch.actions": types.SimpleNamespace(
            DeclareLaunchArgument=_Recorder, OpaqueFunction=_Recorder, EmitEvent=_Recorder,
            LogInfo=_Recorder, RegisterEventHandler=_Recorder),
        "launch.event_handlers": types.SimpleNamespace(OnProcessExit=_Recorder),
        "launch.events": types.SimpleNamespace(Shutdown=_Recorder),
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
    actions = opaque.kwargs["function"](context=None)
    nodes = [a for a in actions if "executable" in a.kwargs]
    handlers = [a for a in actions if "executable" not in a.kwargs]
    assert len(handlers) == len(nodes)  # every node's exit is watched (the launch life cycle)
    launched = sorted((n.kwargs.get("namespace", ""), n.kwargs["executable"]) for n in nodes)

    procs = build_processes({"task": "unplug_charger", "beta": "90.0"}, pipelines=2,
                            record=True, params_file=str(tmp_path / "p.yaml"))
    expected = []
    for p in procs:
        ns = next((a.split(":=")[1].lstrip("/") for a in p.cmd if a.startswith("__ns:=")), "")
        expected.append((ns, p.node))
    assert launched == sorted(expected)
    arbiter = next(n for n in nodes if n.kwargs["executable"] == "arbiter")
    assert arbiter.kwargs["parameters"][1] == {"beta_deg": 90.0}
    learner = next(n for n in nodes if n.kwargs["executable"] == "learner")
    assert learner.kwargs["parameters"][1]["pipelines"] == ["pipe0", "pipe1"]  # relative
    learner_cmd = next(p.cmd for p in procs if p.node == "learner")
    assert "pipelines:=['pipe0','pipe1']" in learner_cmd
    bridges = [n for n in nodes if n.kwargs["executable"] == "sim_bridge"]
    assert sorted(b.kwargs["parameters"][1]["pipeline_index"] for b in bridges) == [0, 1]


def test_the_perception_argument_starts_a_perception_node_per_pipeline():
    from iteach_ros.ros.launcher import build_processes

    plain = [p.name for p in build_processes({}, pipelines=2)]
    assert not any(name.endswith("perception") for name in plain)
    procs = build_processes({"perception": "true", "task": "close_microwave"}, pipelines=2)
    assert sorted(p.name for p in procs if p.node == "perception") == ["pipe0/perception",
                                                                     "pipe1/perception"]
    teacher = next(p.cmd for p in procs if p.node == "teacher")
    bridge = next(p.cmd for p in procs if p.node == "sim_bridge")
    assert "perceived_objects:=true" in teacher and "perception_camera:=true" in bridge
    assert "task:=close_microwave" in next(p.cmd for p in procs if p.node == "perception")


def test_node_executables_exist_for_ros2_run():
    for spec in NODES + STANDALONE:
        script = ROOT / "nodes" / spec.name
        assert script.is_file() and script.stat().st_mode & 0o111, spec.name
        assert spec.module in script.read_text()
