"""Launch the LLM-iTeach graph for ROS 2 users:

    ros2 launch iteach_ros iteach.launch.py task:=close_microwave beta:=20.0 pipelines:=2

The graph (nodes, parameters, launch arguments) comes from iteach_ros.ros.graph, the same
description the pip launcher (python -m iteach_ros.ros.launcher) reads. The launch ends when
every simulator has finished its episodes, or, with the reason, as soon as any node fails (every
node is required). Namespaces are relative, so an including launch file's PushRosNamespace
applies.
"""

import os

from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from iteach_ros.ros.graph import (
    GRAPH_ARGUMENTS,
    LAUNCH_ARGUMENTS,
    PACKAGE,
    RECORDER,
    coerce,
    node_overrides,
    pipeline_namespaces,
    started_nodes,
)
from launch import LaunchDescription


def _params_file(context) -> str:
    explicit = LaunchConfiguration("params_file").perform(context)
    if explicit:
        return explicit
    from ament_index_python.packages import get_package_share_directory

    return os.path.join(get_package_share_directory(PACKAGE), "config", "iteach.yaml")


def _life_cycle(bridges: list, others: list) -> list:
    """Shut the launch down when every simulator has finished, or when any other node ends."""
    remaining = {id(b) for b in bridges}

    def bridge_exit(event, context):
        if context.is_shutdown:
            return None
        if event.returncode != 0:
            return _shutdown(f"{event.action.node_name} exited with {event.returncode}")
        remaining.discard(id(event.action))
        if not remaining:
            return _shutdown("every simulator has ended (its episodes done, or stopped)")
        return None

    def other_exit(event, context):
        if context.is_shutdown or event.returncode == 0:
            return None  # stopped cleanly: the launch is ending anyway
        return _shutdown(f"{event.action.node_name} exited with {event.returncode}; the graph "
                         f"cannot go on without it")

    return ([RegisterEventHandler(OnProcessExit(target_action=b, on_exit=bridge_exit))
             for b in bridges]
            + [RegisterEventHandler(OnProcessExit(target_action=o, on_exit=other_exit))
               for o in others])


def _shutdown(reason: str) -> list:
    return [LogInfo(msg=f"[iteach_ros] {reason}: shutting down"),
            EmitEvent(event=Shutdown(reason=reason))]


def _nodes(context):
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS}
    overrides = node_overrides(values)
    namespaces = pipeline_namespaces(int(LaunchConfiguration("pipelines").perform(context)))
    params = _params_file(context)
    bridges, others = [], []
    for spec in started_nodes(values):
        extra = {"pipelines": namespaces} if spec.name == "learner" else {}
        for k, ns in enumerate(namespaces if spec.per_pipeline else [""]):
            if "pipeline_index" in spec.parameters:
                extra = {"pipeline_index": k}
            node = Node(package=PACKAGE, executable=spec.name, name=spec.name, namespace=ns,
                        output="screen",
                        parameters=[params, {**overrides.get(spec.name, {}), **extra}])
            (bridges if spec.name == "sim_bridge" else others).append(node)
    if coerce(False, LaunchConfiguration("record").perform(context)):
        others.append(Node(package=PACKAGE, executable=RECORDER.name, name=RECORDER.name,
                           output="screen", parameters=[params, {"namespaces": namespaces}]))
    return bridges + others + _life_cycle(bridges, others)


def generate_launch_description():
    args = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.doc)
            for a in LAUNCH_ARGUMENTS]
    args += [DeclareLaunchArgument(name, default_value=default, description=doc)
             for name, (default, doc) in GRAPH_ARGUMENTS.items()]
    return LaunchDescription(args + [OpaqueFunction(function=_nodes)])
