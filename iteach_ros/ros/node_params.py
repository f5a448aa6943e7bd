"""Declaring a node's parameters from the graph description, so no node spells a default."""

from __future__ import annotations

from types import SimpleNamespace

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from iteach_ros.ros.graph import NODE_BY_NAME, RECORDER, NodeSpec


def spec_for(name: str) -> NodeSpec:
    return RECORDER if name == RECORDER.name else NODE_BY_NAME[name]


def declare_from_graph(node: Node, spec_name: str) -> SimpleNamespace:
    """Declare every parameter of ``spec_name`` with its default; return the current values."""
    spec = spec_for(spec_name)
    values = {}
    for name, default in spec.parameters.items():
        if isinstance(default, list):  # a string array: the type cannot come from an empty list
            from rclpy.parameter import Parameter

            param = node.declare_parameter(name, Parameter.Type.STRING_ARRAY,
                                           ParameterDescriptor(description=name))
            value = param.value if param.value is not None else list(default)
        else:
            value = node.declare_parameter(name, default).value
        values[name] = value
    return SimpleNamespace(**values)
