"""The package's import graph against its layering: every import (at module level or inside a
function) points to the same floor or one below, and no modules import each other in a cycle.

Floors, lowest first: what a floor may use lies below it, so each can be read, tested and
reused without what lies above (the sandbox without the simulator, the simulator without the
teacher, everything but ``ros`` without ROS)."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = "iteach_ros"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# Sub-packages (and top-level modules) of iteach_ros by floor, lowest first.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core", "readme_blocks"),  # shared types and constants; generated documentation blocks
    ("codepolicy",),  # the CodePolicy API, executors and the sandbox
    ("sim",),  # MuJoCo environments (and rollouts of a CodePolicy in them)
    ("teacher",),  # which CodePolicy teaches: generation, validation, cache
    ("learning",),  # the learner: policy, replay buffer, trainer, feedback arbiter
    ("interaction",),  # one control step's rules, ROS-free
    ("ros", "msg", "srv", "action"),  # the nodes and their interfaces
    ("experiments",),  # the paper's protocol, in one process or through the graph
)
FLOOR = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))
             if "shipped_policies" not in p.parts}
    found.pop(PACKAGE, None)  # the namespace glue: imports nothing
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules ``name`` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # ``from pkg import sub`` imports the module pkg.sub where there is one
            targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target == PACKAGE or not target.startswith(PACKAGE + "."):
                continue
            while target not in known and "." in target:  # a name inside a module
                target = target.rpartition(".")[0]
            if target in known and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def floor(module: str) -> int:
    top = module.split(".")[1]
    assert top in FLOOR, f"{module}: {top!r} is on no floor of LAYERS"
    return FLOOR[top]


def upward_edges(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b} (floor {floor(a)} imports floor {floor(b)})"
                  for a, targets in edges.items() for b in targets if floor(b) > floor(a))


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as the list of its modules (first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_every_module_lies_on_a_floor():
    for name in modules():
        floor(name)


def test_no_import_points_up_a_floor():
    up = upward_edges(graph())
    assert not up, "imports above their floor:\n" + "\n".join(up)


def test_no_import_cycle():
    found = cycle(graph())
    assert found is None, "import cycle: " + " -> ".join(found)


def test_the_checks_see_function_level_imports_and_cycles(tmp_path):
    code = "def f():\n    from iteach_ros.ros.graph import GRAPH\n"
    path = tmp_path / "x.py"
    path.write_text(code)
    known = {"iteach_ros.codepolicy.x", "iteach_ros.ros.graph"}
    edges = {"iteach_ros.codepolicy.x": imports("iteach_ros.codepolicy.x", path, known)}
    assert edges["iteach_ros.codepolicy.x"] == {"iteach_ros.ros.graph"}
    assert upward_edges(edges) == ["iteach_ros.codepolicy.x -> iteach_ros.ros.graph "
                                   "(floor 1 imports floor 6)"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_task_metadata_and_the_teacher_node_load_no_simulator():
    code = ("import sys\n"
            "from iteach_ros.core.tasks import object_names\n"
            "import iteach_ros.teacher.service, iteach_ros.ros.teacher_node\n"
            "assert object_names('push_button') == ('button',)\n"
            "print(sorted(m for m in ('mujoco', 'torch') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_simulators_tasks_carry_the_task_metadata():
    from iteach_ros.core.tasks import TASK_INFO, TaskInfo
    from iteach_ros.sim.tasks import TASKS

    assert list(TASKS) == list(TASK_INFO)
    for name, task in TASKS.items():
        assert all(getattr(task, f.name) == getattr(TASK_INFO[name], f.name)
                   for f in dataclasses.fields(TaskInfo))


def test_offscreen_rendering_is_configured_in_one_place():
    repo = ROOT.parent
    setters = sorted(str(p.relative_to(repo)) for d in ("iteach_ros", "scripts", "benchmarks",
                                                        "test", "launch")
                     for p in (repo / d).rglob("*.py")
                     if re.search(r"environ\S*\[?\(?[\"']MUJOCO_GL", p.read_text(encoding="utf-8")))
    assert setters == ["iteach_ros/sim/rendering.py"]
