"""What every node process shares: parameters declared from the graph description (so no node
spells a default) and the process life cycle."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from iteach_ros.ros.graph import NODE_BY_NAME, PROCESS_PARAMETERS, RECORDER, NodeSpec


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


EXECUTORS = ("events", "single_threaded")


def make_executor(node: Node, kind: str = PROCESS_PARAMETERS["executor"]):
    """An executor holding ``node``. ``events``: rclpy's EventsExecutor (C++; about half the
    CPU per message of the Python SingleThreadedExecutor, which matters with five processes on
    two cores). Its ``spin()`` busy-waits in Jazzy (rclpy 7.1.6): spin with :func:`spin_loop`."""
    if kind not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {kind!r}")
    if kind == "events":
        from rclpy.experimental import EventsExecutor

        executor = EventsExecutor()
    else:
        from rclpy.executors import SingleThreadedExecutor

        executor = SingleThreadedExecutor()
    executor.add_node(node)
    return executor


def spin_loop(executor, until=lambda: False, timeout_s: float = 0.1) -> None:
    """Spin until rclpy shuts down or ``until()`` holds (spin_once: see make_executor)."""
    while rclpy.ok() and not until():
        executor.spin_once(timeout_sec=timeout_s)


def run_node(name: str, create, args=None, *, spin=None, finish=None) -> int:
    """The life of a node process: init, create, spin until SIGINT or shutdown, clean up.

    A node that cannot start (bad parameters, missing CodePolicy, ...) exits 1 with one line
    saying why, not a traceback. ``spin(node, executor)`` replaces :func:`spin_loop`;
    ``finish(node)`` runs before the node is destroyed (rosout may already be gone after SIGINT:
    print there).
    """
    # Fast DDS sends from the publishing thread (no hand-over to its async thread and back): one
    # context switch less per message on the lock-step path. The environment still overrides.
    os.environ.setdefault("RMW_FASTRTPS_PUBLICATION_MODE", "SYNCHRONOUS")
    rclpy.init(args=args)
    node = None
    try:
        node = create()
        executor = make_executor(node, node.get_parameter("executor").value)
    except Exception as exc:  # noqa: BLE001 - configuration errors end the process plainly
        print(f"{name}: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        return 1
    try:
        if spin is None:
            spin_loop(executor)
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
