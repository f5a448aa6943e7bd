"""package.xml declares, as rosdep keys, exactly what the code imports: every ROS package and every
Python distribution imported by iteach_ros/, launch/ and nodes/ (test/ against test_depend),
none that nothing imports, besides the interfaces' dependencies (CMakeLists.txt), which are
``depend``; the pip keys are defined in rosdep/iteach_ros.yaml and pinned in the requirements.
Optional imports (OPTIONAL) need no key."""

import ast
import importlib.metadata
import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CODE = [ROOT / "iteach_ros", ROOT / "launch", ROOT / "nodes"]
# Keys of ros/rosdistro's rosdep/python.yaml (checked there) for the distributions we use.
ROSDISTRO_KEYS = {"numpy": "python3-numpy", "pyyaml": "python3-yaml",
                  "matplotlib": "python3-matplotlib", "imageio": "python3-imageio",
                  "tqdm": "python3-tqdm", "pytest": "python3-pytest"}
# ROS packages that the wheels do not ship (the upstream kit or a ROS install provides them).
ROS_PACKAGES_NOT_IN_THE_WHEELS = {"launch", "launch_ros"}
# Declared but never imported: the generated interfaces' runtime.
NOT_IMPORTED = {"rosidl_default_runtime"}
# Imported only where present, with what the code does without them.
OPTIONAL = {"llama_cpp": "the offline LLM provider (scripts/setup.sh --with-llm)",
            "imageio_ffmpeg": "MP4 recordings (GIF works without)",
            "pyrep": "the rlbench backend (needs CoppeliaSim)", "rlbench": "the rlbench backend",
            "rosidl_runtime_py": "bag.message_class imports by module path without it"}


def _normalise(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def imported_modules(paths, local=()) -> dict[str, str]:
    """Top-level module -> a file importing it, outside the standard library, this package and
    the ``local`` modules."""
    files = []
    for path in paths:
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
        if path.is_dir() and path.name == "nodes":
            files += sorted(p for p in path.iterdir() if p.is_file())
    out = {}
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "iteach_ros" \
                        and top not in local:
                    out.setdefault(top, str(file.relative_to(ROOT)))
    return out


def is_ros_package(name: str) -> bool:
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return name in ROS_PACKAGES_NOT_IN_THE_WHEELS or any(
        (Path(p) / "share" / name / "package.xml").is_file() for p in prefixes + [sys.prefix])


def custom_keys() -> dict[str, list[str]]:
    data = yaml.safe_load((ROOT / "rosdep" / "iteach_ros.yaml").read_text())
    out = {}
    for key, rules in data.items():
        packages = {tuple(rule["pip"]["packages"]) for rule in rules.values()}
        assert len(packages) == 1, f"{key}: different pip packages per OS: {packages}"
        out[key] = list(packages.pop())
    return out


def key_of(module: str, where: str) -> str:
    if is_ros_package(module):
        return module
    dists = importlib.metadata.packages_distributions().get(module)
    assert dists, f"{where} imports {module}, which is neither a ROS package nor installed"
    by_dist = dict(ROSDISTRO_KEYS)
    by_dist.update({_normalise(p): k for k, packages in custom_keys().items() for p in packages})
    # a module may come from several distributions (mujoco: mujoco, mujoco-core)
    dist = next((d for d in map(_normalise, dists) if d in by_dist), _normalise(dists[0]))
    assert dist in by_dist, (f"{where} imports {module} (distribution {dist}): give it a rosdep "
                             f"key (ros/rosdistro's, or python3-{dist}-pip in "
                             f"rosdep/iteach_ros.yaml)")
    return by_dist[dist]


def declared(*tags: str) -> set[str]:
    root = ET.parse(ROOT / "package.xml").getroot()
    return {e.text.strip() for tag in tags for e in root.findall(tag)}


def interface_dependencies() -> set[str]:
    """The DEPENDENCIES of CMakeLists.txt's rosidl_generate_interfaces, each also found there."""
    cmake = (ROOT / "CMakeLists.txt").read_text()
    block = re.search(r"rosidl_generate_interfaces\((.*?)\)", cmake, re.S).group(1)
    deps = set(block.split("DEPENDENCIES", 1)[1].split())
    found = set(re.findall(r"find_package\((\w+) REQUIRED\)", cmake))
    assert deps <= found, f"interface dependencies CMake does not find: {deps - found}"
    return deps


def test_interface_dependencies_are_depend():
    assert interface_dependencies() - declared("depend") == set(), (
        "CMakeLists.txt's interface dependencies must be <depend> in package.xml (build and run)")


def test_package_xml_declares_exactly_what_the_code_imports():
    modules = imported_modules(CODE)
    assert set(OPTIONAL) <= set(modules), f"not imported any more: {set(OPTIONAL) - set(modules)}"
    needed = {key_of(m, where) for m, where in modules.items() if m not in OPTIONAL}
    run = declared("depend", "exec_depend") - NOT_IMPORTED
    assert needed - run == set(), "imported but not declared in package.xml"
    assert run - needed - interface_dependencies() == set(), (
        "declared in package.xml but imported nowhere")


def test_test_dependencies_are_declared():
    local = {p.stem for p in (ROOT / "test").glob("*.py")}
    needed = {key_of(m, where) for m, where in imported_modules([ROOT / "test"], local).items()}
    run = declared("depend", "exec_depend")
    tests = declared("test_depend")
    assert needed - run - tests == set(), "imported by the tests but not declared"
    assert tests - needed == set(), "test_depend that no test imports"


def test_pip_keys_are_defined_and_pinned():
    pinned = set()
    for name in ("requirements.txt", "requirements.lock"):
        for line in (ROOT / name).read_text().splitlines():
            if "==" in line and not line.lstrip().startswith("#"):
                pinned.add(_normalise(line.split("==")[0].strip()))
    # the optional offline LLM is pinned by its installer (scripts/setup_local_llm.sh)
    llm = (ROOT / "scripts" / "setup_local_llm.sh").read_text()
    pinned |= {_normalise(n) for n in re.findall(r'"([A-Za-z0-9_.-]+)==\$', llm)}
    keys = custom_keys()
    for key, packages in keys.items():
        assert key.startswith("python3-") and key.endswith("-pip"), key
        for package in packages:
            assert _normalise(package) in pinned, f"{key}: {package} is not pinned"
    used = declared("depend", "exec_depend", "test_depend")
    assert set(keys) <= used, f"keys nothing declares: {set(keys) - used}"
    assert {k for k in used if k.endswith("-pip")} <= set(keys), "pip keys without a definition"
