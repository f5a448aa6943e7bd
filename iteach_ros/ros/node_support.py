"""What every node process shares: parameters declared from the graph description (so no node
spells a default) and the process life cycle."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
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


def make_executor(node: Node):
    """A SingleThreadedExecutor holding ``node``. (rclpy's experimental EventsExecutor was
    tried for less per-message overhead; in Jazzy 7.1.6 the lock-step graph stalled with it.)"""
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor()
    executor.add_node(node)
    return executor


def run_node(name: str, create, args=None, *, spin=None, finish=None) -> int:
    """The life of a node process: init, create, spin until SIGINT or shutdown, clean up.

    A node that cannot start (bad parameters, missing CodePolicy, ...) exits 1 with one line
    saying why, not a traceback. ``spin(node, executor)`` replaces ``executor.spin()``;
    ``finish(node)`` runs
    before the node is destroyed (rosout may already be gone after SIGINT: print there).
    """
    rclpy.init(args=args)
    try:
        node = create()
    except Exception as exc:  # noqa: BLE001 - configuration errors end the process plainly
        print(f"{name}: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    try:
        executor = make_executor(node)
        if spin is None:
            executor.spin()
        else:
            spin(node, executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if finish is not None:
            finish(node)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
