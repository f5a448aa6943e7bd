"""What every node process shares: parameters declared from the graph description (so no node
spells a default) and the process life cycle."""

from __future__ import annotations

import os
import signal
import threading
from types import SimpleNamespace

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from iteach_ros.ros.graph import (
    EXECUTORS,
    NODE_BY_NAME,
    PROCESS_PARAMETERS,
    STANDALONE,
    NodeSpec,
    Param,
)


def spec_for(name: str) -> NodeSpec:
    return next((s for s in STANDALONE if s.name == name), None) or NODE_BY_NAME[name]


def _descriptor(name: str, p: Param) -> ParameterDescriptor:
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange

    d = ParameterDescriptor(name=name, description=p.doc, read_only=not p.dynamic)
    if p.choices:
        d.additional_constraints = f"one of: {', '.join(p.choices)}"
    if p.range is not None and isinstance(p.default, float):
        d.floating_point_range = [FloatingPointRange(from_value=float(p.range[0]),
                                                     to_value=float(p.range[1]))]
    elif p.range is not None:
        step = p.range[2] if len(p.range) > 2 else 1
        d.integer_range = [IntegerRange(from_value=p.range[0], to_value=p.range[1], step=step)]
    return d


def declare_from_graph(node: Node, spec_name: str) -> SimpleNamespace:
    """Declare every parameter of ``spec_name`` with its default and descriptor (description,
    range, read-only unless it may change at run time); return the current values. A value
    outside its range or choices: ValueError naming the parameter (the node does not start)."""
    from rclpy.exceptions import InvalidParameterValueException
    from rclpy.parameter import Parameter

    spec = spec_for(spec_name)
    values = {}
    for name, p in spec.parameters.items():
        descriptor = _descriptor(name, p)
        try:
            if isinstance(p.default, list) and all(isinstance(x, str) for x in p.default):
                # a string array: its type cannot come from []
                param = node.declare_parameter(name, Parameter.Type.STRING_ARRAY, descriptor)
                value = param.value if param.value is not None else list(p.default)
            else:
                value = node.declare_parameter(name, p.default, descriptor).value
        except InvalidParameterValueException as exc:
            raise ValueError(f"parameter {name}: {exc}") from None
        p.check(name, value)
        values[name] = value
    return SimpleNamespace(**values)


def watch_parameters(node: Node, spec_name: str, values: SimpleNamespace, apply) -> None:
    """Live parameters: a ``ros2 param set`` of a run-time parameter is checked (range and
    read-only by rclpy from the descriptors, choices here), handed to ``apply(name, value)``
    (which may raise ValueError to refuse it), stored in ``values`` and logged; refusals return
    their reason to the caller."""
    from rcl_interfaces.msg import SetParametersResult

    spec = spec_for(spec_name)

    def on_set(params) -> SetParametersResult:
        for param in params:
            p = spec.parameters.get(param.name)
            if p is None:
                continue
            try:
                p.check(param.name, param.value)
                apply(param.name, param.value)
            except ValueError as exc:
                node.get_logger().warn(f"refused {param.name} := {param.value!r}: {exc}")
                return SetParametersResult(successful=False, reason=str(exc))
        for param in params:
            if param.name in spec.parameters:
                old = getattr(values, param.name)
                setattr(values, param.name, param.value)
                node.get_logger().info(f"parameter {param.name}: {old!r} -> {param.value!r}")
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)


def diagnostics(node: Node, name: str, level: int, message: str, values: dict):
    """A /diagnostics message with one status of ``node``'s (``values`` as key/value text)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    status = DiagnosticStatus(level=level, name=name, message=message,
                              hardware_id=node.get_name(),
                              values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
    arr = DiagnosticArray(status=[status])
    arr.header.stamp = node.get_clock().now().to_msg()
    return arr


def transition(method):
    """A lifecycle transition callback whose exception is logged and fails the transition
    (rclpy swallows it silently); the exception is kept as ``node.transition_error``."""
    import functools

    from rclpy.lifecycle import TransitionCallbackReturn

    @functools.wraps(method)
    def wrapper(node, state):
        try:
            return method(node, state)
        except Exception as exc:  # noqa: BLE001 - reported, and the state machine says failure
            node.transition_error = exc
            node.get_logger().error(f"{method.__name__[3:]} failed: {type(exc).__name__}: {exc}")
            return TransitionCallbackReturn.FAILURE
    return wrapper


def bring_up(node) -> None:
    """Configure and activate a lifecycle node now (its ``autostart``); a failed transition
    raises its error, so the process stops with the reason (``run_node``)."""
    from rclpy.lifecycle import TransitionCallbackReturn

    for name, trigger in (("configure", node.trigger_configure),
                          ("activate", node.trigger_activate)):
        if trigger() != TransitionCallbackReturn.SUCCESS:
            error = getattr(node, "transition_error", None)
            raise error if error is not None else RuntimeError(f"{name} failed")


def publishers_of(node: Node, topic: str) -> str:
    """The nodes publishing on ``topic`` (messages do not say who sent them): for the log line
    that refuses a message."""
    names = sorted({f"{i.node_namespace.rstrip('/')}/{i.node_name}"
                    for i in node.get_publishers_info_by_topic(topic)})
    return ", ".join(names) or "none known"


def make_executor(node: Node, kind: str = PROCESS_PARAMETERS["executor"].default):
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


# Set by SIGINT or SIGTERM (our own handlers, not rclpy's: a KeyboardInterrupt raised inside
# the C++ executor aborts the process, and rclpy's own shutdown takes the logger and the
# publishers the node still needs to finish cleanly).
STOP = threading.Event()


def install_stop_handlers() -> threading.Event:
    """SIGINT (Ctrl-C, to the whole process group) and SIGTERM only set ``STOP``."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: STOP.set())
    return STOP


def ignore_late_signals() -> None:
    """The node is done; only the interpreter's exit is left, which takes seconds with torch
    loaded on a busy machine. A signal then (launch's SIGINT to every process still running
    once the simulators have ended, its SIGTERM 5 s later) would end the process with a signal
    instead of its exit code: Python restores the default action of its own handlers at exit,
    but leaves ignored signals ignored."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def spin_loop(executor, until=lambda: False, timeout_s: float = 0.1) -> None:
    """Spin until a stop signal, rclpy's shutdown or ``until()`` (spin_once: see
    make_executor)."""
    while rclpy.ok() and not STOP.is_set() and not until():
        executor.spin_once(timeout_sec=timeout_s)


def run_node(name: str, create, args=None, *, spin=None, finish=None) -> int:
    """The life of a node process: init, create, spin until SIGINT / SIGTERM or the node is
    done, finish cleanly, exit 0.

    A node that cannot start (bad parameters, missing CodePolicy, ...) exits 1 with one line
    saying why through its logger (console, log file and, once the node exists, /rosout), not a
    traceback. ``spin(node, executor)`` replaces :func:`spin_loop` (its return value is the exit
    code); ``finish(node)`` runs before the node is destroyed, with its logger and publishers
    still working.
    """
    # Fast DDS sends from the publishing thread (no hand-over to its async thread and back): one
    # context switch less per message on the lock-step path. The environment still overrides.
    os.environ.setdefault("RMW_FASTRTPS_PUBLICATION_MODE", "SYNCHRONOUS")
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    install_stop_handlers()
    node = None
    try:
        node = create()
        executor = make_executor(node, node.get_parameter("executor").value)
    except Exception as exc:  # noqa: BLE001 - configuration errors end the process plainly
        logger = node.get_logger() if node is not None else rclpy.logging.get_logger(name)
        logger.fatal(f"cannot start: {type(exc).__name__}: {exc}")
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        ignore_late_signals()
        return 1
    code = 0
    try:
        if spin is None:
            spin_loop(executor)
        else:
            code = spin(node, executor) or 0
    except ExternalShutdownException:
        pass
    finally:
        if finish is not None:
            finish(node)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        ignore_late_signals()
    return code
