"""Second process of the interface round-trip test: publishes every sample message (latched, so
the test process may join late) and serves both services, answering the sample responses when the
request arrives intact. Exits after --lifetime seconds or when its parent closes stdin."""

import argparse
import sys
import threading

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from msg_samples import differences, sample_messages, sample_service_pairs

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class SamplePeer(Node):
    def __init__(self, prefix: str):
        super().__init__("interface_sample_peer")
        self.pubs = []
        for key, msg in sample_messages().items():
            pub = self.create_publisher(type(msg), f"{prefix}/{key}", LATCHED)
            pub.publish(msg)
            self.pubs.append(pub)
        self.servers = []
        for key, (srv_type, request, response) in sample_service_pairs().items():
            self.servers.append(self.create_service(
                srv_type, f"{prefix}/{key}", self._make_callback(request, response)))

    def _make_callback(self, expected_request, sample_response):
        def callback(request, response):
            diff = differences(expected_request, request)
            if diff:  # tell the caller which request fields were lost
                response.message = "request mismatch: " + "; ".join(diff)
                return response
            return sample_response
        return callback


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", default="/iteach_test")
    parser.add_argument("--lifetime", type=float, default=60.0)
    args = parser.parse_args()
    rclpy.init()
    node = SamplePeer(args.prefix)
    print("peer ready", flush=True)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    deadline = node.get_clock().now().nanoseconds + int(args.lifetime * 1e9)
    while not stop.is_set() and node.get_clock().now().nanoseconds < deadline:
        executor.spin_once(timeout_sec=0.1)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
