"""recorder: writes every topic of the graph (topics.ALL_TOPICS) to a rosbag2/MCAP bag.

Subscriptions are raw (``raw=True``): the CDR bytes go to the file as DDS delivered them, with no
deserialisation. One set of subscriptions per entry of ``namespaces`` ("" = the node's own), each
with the topic's QoS from interfaces.py, which is also recorded as the offered QoS for
``ros2 bag play``. ``topics`` adds other topics (``name`` or ``name:pkg/msg/Type``); they are
subscribed once a publisher appears, with QoS adapted to the publishers' as ``ros2 bag record``
does. SIGINT and SIGTERM end the spin loop and the bag is closed (indexed, metadata.yaml
written) after taking what DDS had already delivered; the chunk in progress is flushed every
FLUSH_PERIOD_S, so a SIGKILL loses little (``mcap recover`` / ``ros2 bag reindex`` repair the
file).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from iteach_ros.ros import interfaces as topics
from iteach_ros.ros.bag import McapRecorder, message_class, stamp_from_cdr
from iteach_ros.ros.node_support import declare_from_graph, install_stop_handlers

FLUSH_PERIOD_S = 2.0  # bound on what a SIGKILL loses
STATUS_PERIOD_S = 10.0  # progress log, only when something new arrived
DISCOVERY_PERIOD_S = 1.0  # how often pending extra topics are looked for
DRAIN_BUDGET_S = 1.0  # on a signal, at most this long to take already-delivered messages


def type_name_of(msg_type: type) -> str:
    """``sensor_msgs.msg.Image`` -> ``sensor_msgs/msg/Image``."""
    return f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"


def has_header(msg_type: type) -> bool:
    fields = iter(msg_type.get_fields_and_field_types().items())
    return next(fields, None) == ("header", "std_msgs/Header")


def default_output() -> str:
    return str(Path("bags") / time.strftime("iteach_%Y_%m_%d-%H_%M_%S"))


def join_namespace(namespace: str, name: str) -> str:
    return f"{namespace.rstrip('/')}/{name}" if namespace else name


class RecorderNode(Node):
    def __init__(self):
        super().__init__("recorder")
        p = declare_from_graph(self, "recorder")
        self.output = Path(p.output or default_output()).expanduser()
        self.recorder = McapRecorder(self.output)
        self.subs = {}  # resolved topic name -> subscription
        for namespace in p.namespaces or [""]:
            for topic in topics.ALL_TOPICS:
                self.record(join_namespace(namespace, topic.name), topic.type, topic.qos,
                            [topic.qos])
        self.pending = {}  # extra topics waiting for a publisher: resolved name -> type or ""
        for entry in p.topics:
            name, _, type_name = entry.partition(":")
            if name:
                self.pending[self.resolve_topic_name(name)] = type_name
        self.discovery_timer = (self.create_timer(DISCOVERY_PERIOD_S, self.discovery_callback)
                                if self.pending else None)
        self.flush_timer = self.create_timer(FLUSH_PERIOD_S, self.recorder.flush)
        self.status_timer = self.create_timer(STATUS_PERIOD_S, self.status_callback)
        self.logged_count = 0
        self.get_logger().info(f"recording {len(self.subs)} topics to {self.output}")

    def record(self, name: str, msg_type: type, qos: QoSProfile, offered: list) -> None:
        """Subscribe raw to ``name`` and register it in the bag (once per resolved name)."""
        resolved = self.resolve_topic_name(name)
        if resolved in self.subs:
            return
        self.recorder.add_topic(resolved, type_name_of(msg_type), offered_qos=offered)
        stamped = has_header(msg_type)
        self.subs[resolved] = self.create_subscription(
            msg_type, resolved,
            lambda data, topic=resolved: self.message_callback(topic, data, stamped),
            qos, raw=True)

    def message_callback(self, topic: str, data: bytes, stamped: bool) -> None:
        now = self.get_clock().now().nanoseconds
        self.recorder.write(topic, data, now, stamp_from_cdr(data) if stamped else None)

    def discovery_callback(self) -> None:
        graph = dict(self.get_topic_names_and_types())
        for name, type_name in list(self.pending.items()):
            publishers = self.get_publishers_info_by_topic(name)
            if name in self.subs:  # a graph topic listed again
                del self.pending[name]
                continue
            if name not in graph or not publishers:
                continue
            del self.pending[name]
            type_name = type_name or graph[name][0]
            offered = [info.qos_profile for info in publishers]
            try:
                self.record(name, message_class(type_name), adapted_qos(offered), offered)
            except (ImportError, AttributeError, OSError, ValueError) as exc:
                self.get_logger().error(f"cannot record {name} ({type_name}): {exc}")
                continue
            self.get_logger().info(f"recording {name} ({type_name})")
        if not self.pending:
            self.discovery_timer.cancel()

    def status_callback(self) -> None:
        count = self.recorder.message_count
        if count != self.logged_count:
            self.logged_count = count
            active = sum(1 for c in self.recorder.counts().values() if c)
            self.get_logger().info(f"{count} messages on {active} topics")

    def close(self) -> None:
        self.recorder.close()
        counts = self.recorder.counts()
        self.get_logger().info(f"closed {self.output}: {sum(counts.values())} messages on "
                               f"{sum(1 for c in counts.values() if c)} of {len(counts)} topics")


def adapted_qos(offered: list) -> QoSProfile:
    """A request every publisher matches: reliable / transient-local only if all offer it."""
    qos = QoSProfile(depth=10)
    reliable = all(o.reliability == ReliabilityPolicy.RELIABLE for o in offered)
    latched = all(o.durability == DurabilityPolicy.TRANSIENT_LOCAL for o in offered)
    qos.reliability = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
    qos.durability = DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE
    return qos


def drain(executor, node: RecorderNode, budget_s: float = DRAIN_BUDGET_S) -> None:
    """Take what DDS delivered before the signal: spin until a few idle turns in a row."""
    deadline = time.monotonic() + budget_s
    idle = 0
    while idle < 3 and time.monotonic() < deadline and rclpy.ok():
        before = node.recorder.message_count
        executor.spin_once(timeout_sec=0.02)
        idle = idle + 1 if node.recorder.message_count == before else 0


def main(args=None) -> int:
    # Our own handlers: a signal only ends the loop, the bag is closed below, then rclpy stops.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = install_stop_handlers()
    try:
        node = RecorderNode()
    except (OSError, ValueError) as exc:
        print(f"recorder: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
        drain(executor, node)
    finally:
        node.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
