"""A node that records what crosses the graph's topics, for the end-to-end tests, and nodes
spun in the test's own process, for the node tests."""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter, defaultdict
from contextlib import contextmanager

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from iteach_ros.ros import interfaces as topics


class GraphMonitor(Node):
    def __init__(self, ns: str = ""):
        super().__init__("graph_monitor")
        self.observations: set[tuple[int, int]] = set()
        self.executed: Counter = Counter()
        self.feedback: Counter = Counter()
        self.feedback_steps: dict[int, set[int]] = defaultdict(set)
        self.feedback_kinds: Counter = Counter()
        self.events: list = []
        # keyed by (simulator run, episode): ended episodes' steps, labelled steps
        self.ended_runs: dict[tuple[int, int], int] = {}
        self.labels_by_run: dict[tuple[int, int], set[int]] = defaultdict(set)
        self.diagnostics: list[dict] = []
        self.lock = threading.Lock()
        for topic, cb in ((topics.OBSERVATION, self._obs), (topics.EXECUTED_ACTION, self._exec),
                          (topics.FEEDBACK, self._fb), (topics.EPISODE_EVENT, self._event)):
            # A passive observer that must see every message keeps a deep history: with the
            # topics' own depth (1 for observations) a sample it has not taken yet when the next
            # arrives is replaced (the lock-step only waits for the nodes that answer).
            qos = copy.copy(topic.qos)
            qos.depth = 1000
            topic.subscription(self, cb, ns, qos)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._diag, 10)

    def _obs(self, m):
        with self.lock:
            self.observations.add((m.episode, m.step))

    def _exec(self, m):
        with self.lock:
            self.executed[(m.episode, m.step)] += 1

    def _fb(self, m):
        with self.lock:
            self.feedback[(m.episode, m.step)] += 1
            self.feedback_steps[m.episode].add(m.step)
            self.feedback_kinds[m.kind] += 1
            self.labels_by_run[(m.run_id, m.episode)].add(m.step)

    def _event(self, m):
        with self.lock:
            self.events.append((m.episode, m.event, m.reason, m.steps))
            if m.event != 0:  # not STARTED
                self.ended_runs[(m.run_id, m.episode)] = m.steps

    def _diag(self, m):
        for status in m.status:
            if status.name == "iteach_ros/learner":
                with self.lock:
                    self.diagnostics.append({kv.key: kv.value for kv in status.values})


class MonitorThread:
    """Spins a GraphMonitor in the background of a test."""

    def __init__(self, ns: str = ""):
        rclpy.init()
        self.node = GraphMonitor(ns)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self):
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def wait_until(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.node.lock:
                if predicate(self.node):
                    return True
            time.sleep(0.05)
        return False

    def close(self):
        self._stop.set()
        self.thread.join()
        self.node.destroy_node()
        rclpy.try_shutdown()


@contextmanager
def nodes_in_this_process(make_nodes, args=None):
    """rclpy initialised (``args``: e.g. parameter overrides), the nodes ``make_nodes()`` returns
    on one executor; yields (nodes, spin_until), spin_until(predicate, timeout=10.0) -> bool."""
    rclpy.init(args=args)
    try:
        nodes = make_nodes()
    except BaseException:
        rclpy.try_shutdown()  # a node that cannot start leaves no context behind
        raise
    executor = SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)

    def spin_until(predicate, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.02)
            if predicate():
                return True
        return False

    try:
        yield nodes, spin_until
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
