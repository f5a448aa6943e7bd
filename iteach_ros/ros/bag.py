"""Recording the graph's topics: rosbag2 folders holding one MCAP file, written without rosbag2.

Format choice: a rosbag2 folder (``metadata.yaml`` + ``<name>_0.mcap``), with the MCAP written
here through the ``mcap`` package rather than through ``rosbags``' writer, so that the file is
what rosbag2's own MCAP storage plugin (Jazzy, metadata version 9) writes:

- header profile ``ros2``; one schema per type named ``pkg/msg/Type``, encoding ``ros2msg``,
  holding the installed ``.msg`` text followed by each dependency's (``====...`` + ``MSG:``
  lines), built the way rosbag2's ``LocalMessageDefinitionSource`` builds it;
- one channel per topic, message encoding ``cdr``, metadata ``offered_qos_profiles`` (v9 YAML)
  and ``topic_type_hash`` (the RIHS01 hash rosidl installed next to the ``.msg``);
- messages as the CDR bytes received from DDS: log time = receive time, publish time = the
  header stamp where the type starts with a ``std_msgs/Header`` (else the receive time);
- a ``rosbag2`` metadata record with ``serialized_metadata``, which is what makes
  ``ros2 bag info|play x.mcap`` parse the QoS strings as version 9;
- ``metadata.yaml`` next to it, so ``ros2 bag info|play <folder>`` work as on a recorded bag.

``rosbags``' writer would give the same folder but sets publish time = log time, regenerates the
definition text from its own type store (comments dropped) and leaves ``topic_type_hash`` out of
the channel metadata. Foxglove opens the ``.mcap`` on its own (chunked, indexed, with summary).

Nothing here needs rclpy except ``read_bag`` and ``message_class`` (imported lazily), so bags can
be written and inspected where ROS is not installed.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer

BAG_VERSION = 9  # rosbag2 metadata version written by Jazzy
PROFILE = "ros2"
SCHEMA_ENCODING = "ros2msg"
MESSAGE_ENCODING = "cdr"
DELIMITER = "=" * 80 + "\n"
# The first word of each definition line, as rosbag2 finds a .msg file's dependencies.
_FIELD_TYPE = re.compile(r"(?:^|\n)\s*([a-zA-Z0-9_/]+)(?:\[[^\]]*\])?\s+")
_PRIMITIVES = frozenset({"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16",
                         "uint16", "int32", "uint32", "int64", "uint64", "string"})
_INFINITE_S = 9223372036  # RMW_DURATION_INFINITE as rosbag2 writes it: 9223372036 s 854775807 ns


def share_dirs() -> list[Path]:
    """Install prefixes' ``share`` folders: AMENT_PREFIX_PATH first, then this interpreter's."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    out = []
    for prefix in prefixes:
        share = Path(prefix) / "share"
        if share.is_dir() and share not in out:
            out.append(share)
    return out


def split_type_name(type_name: str) -> tuple[str, str, str]:
    """``pkg/msg/Type`` or ``pkg/Type`` -> (pkg, "msg", Type)."""
    parts = type_name.split("/")
    if len(parts) == 2:
        return parts[0], "msg", parts[1]
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    raise ValueError(f"not a ROS interface type name: {type_name!r}")


def interface_file(type_name: str, suffix: str = ".msg") -> Path:
    pkg, ns, name = split_type_name(type_name)
    for share in share_dirs():
        path = share / pkg / ns / f"{name}{suffix}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"no {pkg}/{ns}/{name}{suffix} under {share_dirs()}")


def message_definition(type_name: str) -> str:
    """The full ``ros2msg`` text of a type: its .msg, then every dependency's, depth first."""
    seen: set[str] = set()

    def expand(name: str, depth: int) -> str:
        if depth <= 0:
            raise RecursionError(f"definition of {type_name} nests too deep")
        text = interface_file(name).read_text()
        pkg = split_type_name(name)[0]
        deps = set()
        for match in _FIELD_TYPE.finditer(text):
            dep = match.group(1)
            if dep not in _PRIMITIVES:
                deps.add(dep if "/" in dep else f"{pkg}/{dep}")
        for dep in sorted(deps):
            if dep not in seen:
                seen.add(dep)
                text += "\n" + DELIMITER + f"MSG: {dep}\n" + expand(dep, depth - 1)
        return text

    return expand(type_name, 50)


def type_hash(type_name: str) -> str:
    """The RIHS01 type hash rosidl installed with the type (``""`` when there is none)."""
    try:
        info = json.loads(interface_file(type_name, ".json").read_text())
    except (FileNotFoundError, ValueError):
        return ""
    pkg, ns, name = split_type_name(type_name)
    for entry in info.get("type_hashes", []):
        if entry.get("type_name") == f"{pkg}/{ns}/{name}":
            return entry.get("hash_string", "")
    return ""


def _duration(value) -> dict:
    """An rclpy Duration (or nanoseconds) as rosbag2's {sec, nsec}; 0 stays "unspecified"."""
    ns = int(getattr(value, "nanoseconds", value or 0))
    if ns >= _INFINITE_S * 10**9:
        return {"sec": _INFINITE_S, "nsec": 854775807}
    return {"sec": ns // 10**9, "nsec": ns % 10**9}


def qos_dict(qos) -> dict:
    """A QoS profile as rosbag2 v9 writes it. Takes an rclpy QoSProfile or such a dict."""
    if isinstance(qos, dict):
        return qos

    def policy(value) -> str:
        return value.name.lower()

    return {
        "history": policy(qos.history), "depth": int(qos.depth),
        "reliability": policy(qos.reliability), "durability": policy(qos.durability),
        "deadline": _duration(qos.deadline), "lifespan": _duration(qos.lifespan),
        "liveliness": policy(qos.liveliness),
        "liveliness_lease_duration": _duration(qos.liveliness_lease_duration),
        "avoid_ros_namespace_conventions": bool(qos.avoid_ros_namespace_conventions),
    }


def stamp_from_cdr(data: bytes | memoryview) -> int | None:
    """``header.stamp`` in ns of a CDR message whose first field is a ``std_msgs/Header``.

    The stamp (int32 sec, uint32 nanosec) follows the 4-byte encapsulation header; byte 1 says
    the byte order. Returns None for a buffer too short or a zero stamp (never set).
    """
    if len(data) < 12:
        return None
    order = "little" if data[1] & 1 else "big"
    sec = int.from_bytes(data[4:8], order, signed=True)
    nsec = int.from_bytes(data[8:12], order)
    stamp = sec * 10**9 + nsec
    return stamp if stamp > 0 else None


@dataclass
class _Topic:
    name: str
    type_name: str
    channel_id: int
    qos: list
    hash: str
    count: int = 0


class McapRecorder:
    """Writes one rosbag2 folder: ``<path>/<name>_0.mcap`` and, on close, ``metadata.yaml``.

    Thread-safe; ``close`` is idempotent. Refuses an existing ``path`` (as ``ros2 bag record``).
    """

    def __init__(self, path: str | os.PathLike, *, library: str = "iteach_ros recorder",
                 chunk_size: int = 1024 * 1024):
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists already, not overwriting")
        self.path.mkdir(parents=True)
        self.file = self.path / f"{self.path.name}_0.mcap"
        self._stream = open(self.file, "xb")  # closed in close()
        # No compression: rosbag2's default, and cheapest on the recording machine's CPU.
        self._writer = Writer(self._stream, chunk_size=chunk_size,
                              compression=CompressionType.NONE)
        self._writer.start(profile=PROFILE, library=library)
        self._lock = threading.Lock()
        self._schemas: dict[str, int] = {}
        self._topics: dict[str, _Topic] = {}
        self._first_ns: int | None = None
        self._last_ns = 0
        self.closed = False

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self._topics.values())

    def counts(self) -> dict[str, int]:
        return {name: t.count for name, t in self._topics.items()}

    def add_topic(self, name: str, type_name: str, msgdef: str | None = None, *,
                  offered_qos: Sequence = (), type_description_hash: str | None = None) -> None:
        """Register a topic (absolute name) of ``pkg/msg/Type``; the schema once per type."""
        split_type_name(type_name)
        with self._lock:
            if self.closed:
                raise ValueError(f"{self.file} is closed")
            if name in self._topics:
                raise ValueError(f"topic {name} added twice")
            if type_name not in self._schemas:
                text = message_definition(type_name) if msgdef is None else msgdef
                self._schemas[type_name] = self._writer.register_schema(
                    type_name, SCHEMA_ENCODING, text.encode())
            qos = [qos_dict(q) for q in offered_qos]
            digest = type_hash(type_name) if type_description_hash is None \
                else type_description_hash
            metadata = {"offered_qos_profiles": yaml.safe_dump(qos, sort_keys=False) if qos
                        else "", "topic_type_hash": digest}
            channel_id = self._writer.register_channel(name, MESSAGE_ENCODING,
                                                       self._schemas[type_name], metadata)
            self._topics[name] = _Topic(name, type_name, channel_id, qos, digest)

    def write(self, topic: str, data: bytes | memoryview, log_time_ns: int,
              publish_time_ns: int | None = None) -> None:
        """Append one CDR-serialised message of a registered topic."""
        with self._lock:
            if self.closed:
                return  # a callback racing shutdown: the bag is already final
            entry = self._topics[topic]
            self._writer.add_message(entry.channel_id, log_time_ns, bytes(data),
                                     log_time_ns if publish_time_ns is None else publish_time_ns)
            entry.count += 1
            if self._first_ns is None or log_time_ns < self._first_ns:
                self._first_ns = log_time_ns
            self._last_ns = max(self._last_ns, log_time_ns)

    def flush(self) -> None:
        """Write the chunk in progress, so a crash loses at most what came after."""
        with self._lock:
            if not self.closed:
                self._writer.flush()

    def metadata(self) -> dict:
        """The ``rosbag2_bagfile_information`` of the bag as written so far."""
        start = self._first_ns or 0
        duration = self._last_ns - start if self._first_ns is not None else 0
        count = self.message_count
        return {
            "version": BAG_VERSION,
            "storage_identifier": "mcap",
            "duration": {"nanoseconds": duration},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": count,
            "topics_with_message_count": [
                {"topic_metadata": {"name": t.name, "type": t.type_name,
                                    "serialization_format": MESSAGE_ENCODING,
                                    "offered_qos_profiles": t.qos,
                                    "type_description_hash": t.hash},
                 "message_count": t.count}
                for t in self._topics.values()],
            "compression_format": "",
            "compression_mode": "",
            "relative_file_paths": [self.file.name],
            "files": [{"path": self.file.name,
                       "starting_time": {"nanoseconds_since_epoch": start},
                       "duration": {"nanoseconds": duration}, "message_count": count}],
            "custom_data": None,
            "ros_distro": os.environ.get("ROS_DISTRO", ""),
        }

    def close(self) -> None:
        """Finish the MCAP (rosbag2 metadata record, indexes, summary) and write metadata.yaml."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            info = self.metadata()
            self._writer.add_metadata(
                "rosbag2", {"serialized_metadata": yaml.safe_dump(info, sort_keys=False)})
            self._writer.finish()
            self._stream.close()
            tmp = self.path / "metadata.yaml.tmp"
            tmp.write_text(yaml.safe_dump({"rosbag2_bagfile_information": info},
                                          sort_keys=False))
            tmp.replace(self.path / "metadata.yaml")

    def __enter__(self) -> McapRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bag_files(path: str | os.PathLike) -> list[Path]:
    """The MCAP files of a bag: a folder (metadata.yaml order, else sorted) or one file."""
    path = Path(path)
    if path.is_file():
        return [path]
    meta = path / "metadata.yaml"
    if meta.is_file():
        info = yaml.safe_load(meta.read_text())["rosbag2_bagfile_information"]
        return [path / name for name in info["relative_file_paths"]]
    files = sorted(path.glob("*.mcap"))
    if not files:
        raise FileNotFoundError(f"no .mcap file in {path}")
    return files


def message_class(type_name: str) -> type:
    """The generated Python class of ``pkg/msg/Type`` (rosidl_runtime_py when installed)."""
    try:
        from rosidl_runtime_py.utilities import get_message
    except ImportError:  # not among the PyPI wheels: import by module path
        pkg, ns, name = split_type_name(type_name)
        return getattr(importlib.import_module(f"{pkg}.{ns}"), name)
    return get_message(type_name)


def read_bag(path: str | os.PathLike) -> Iterator[tuple[str, str, object]]:
    """Yield ``(topic, type_name, message)`` for every message, in log-time order per file,
    deserialised by rclpy into the generated classes."""
    from rclpy.serialization import deserialize_message

    classes: dict[str, type] = {}
    for file in bag_files(path):
        with open(file, "rb") as stream:
            for schema, channel, message in make_reader(stream).iter_messages(
                    log_time_order=True):
                type_name = schema.name
                if type_name not in classes:
                    classes[type_name] = message_class(type_name)
                yield channel.topic, type_name, deserialize_message(message.data,
                                                                    classes[type_name])
