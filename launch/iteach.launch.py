"""Launch the LLM-iTeach graph for ROS 2 users:

    ros2 launch iteach_ros iteach.launch.py task:=close_microwave beta:=20.0 pipelines:=2

The graph (nodes, parameters, launch arguments) comes from iteach_ros.ros.graph, the same
description the pip launcher (python -m iteach_ros.ros.launcher) reads.
"""

import os

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from iteach_ros.ros.graph import (
    GRAPH_ARGUMENTS,
    LAUNCH_ARGUMENTS,
    NODES,
    PACKAGE,
    RECORDER,
    node_overrides,
    pipeline_namespaces,
)
from launch import LaunchDescription


def _params_file(context) -> str:
    explicit = LaunchConfiguration("params_file").perform(context)
    if explicit:
        return explicit
    from ament_index_python.packages import get_package_share_directory

    return os.path.join(get_package_share_directory(PACKAGE), "config", "iteach.yaml")


def _nodes(context):
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS}
    overrides = node_overrides(values)
    namespaces = pipeline_namespaces(int(LaunchConfiguration("pipelines").perform(context)))
    params = _params_file(context)
    actions = []
    for spec in NODES:
        extra = {"pipelines": namespaces} if spec.name == "learner" else {}
        for ns in namespaces if spec.per_pipeline else [""]:
            actions.append(Node(package=PACKAGE, executable=spec.name, name=spec.name,
                                namespace=ns, output="screen",
                                parameters=[params, {**overrides.get(spec.name, {}), **extra}]))
    if LaunchConfiguration("record").perform(context).lower() in ("true", "1"):
        actions.append(Node(package=PACKAGE, executable=RECORDER.name, name=RECORDER.name,
                            namespace="",
                            output="screen",
                            parameters=[params, {"namespaces": namespaces}]))
    return actions


def generate_launch_description():
    args = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.doc)
            for a in LAUNCH_ARGUMENTS]
    args += [DeclareLaunchArgument(name, default_value=default, description=doc)
             for name, (default, doc) in GRAPH_ARGUMENTS.items()]
    return LaunchDescription(args + [OpaqueFunction(function=_nodes)])
