"""The pipe protocol between the caller and the sandbox worker (no pickle in either direction).

A frame is a 4-byte little-endian length and a payload whose first byte says what it is. The
caller sends ``INIT`` (JSON: the program, its object names and limits), ``STEP`` (the object
states, packed), ``RESET`` and ``QUIT``; the worker answers ``BOOTED`` (once, after its
imports), ``READY`` (program compiled, or reset done), ``STEP_OK`` (the action, packed) or
``ERROR`` (JSON: the SandboxError's kind, message, line and issues). The caller parses what the
worker sends as plain data with fixed layouts and size caps: a worker running untrusted code is
never given a way to run code in the caller.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np

from iteach_ros.core.state import ObjectState

INIT, STEP, RESET, QUIT = b"I", b"S", b"R", b"Q"
BOOTED, READY, STEP_OK, ERROR = b"B", b"K", b"O", b"E"
MAX_FRAME = 1 << 20  # bytes; a frame above it is a protocol error
MAX_MESSAGE = 4000  # characters of an error message kept
_HEADER = struct.Struct("<I")
_STEP_OK = struct.Struct("<4d?q")
_GRIPPED, _CAN_BE_GRIPPED, _CLOSED = 1, 2, 4  # one byte of flags per object


class ProtocolError(Exception):
    """A malformed frame (from a worker: it is treated as crashed)."""


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return _HEADER.pack(len(payload) + 1) + kind + payload


def frame_length(header: bytes) -> int:
    (n,) = _HEADER.unpack(header)
    if not 1 <= n <= MAX_FRAME:
        raise ProtocolError(f"frame of {n} bytes")
    return n


# ---- object states ---------------------------------------------------------------------------
_F8 = np.dtype(float)  # native byte order: both ends run on the same machine
_NDARRAY = np.ndarray
_FIELDS = (("position", 3), ("normal", 3), ("quaternion", 4))


def _vector(state, field: str, n: int | None) -> np.ndarray:
    arr = np.asarray(getattr(state, field), dtype=float).reshape(-1)
    if n is not None and arr.shape != (n,):
        raise ValueError(f"{state.name!r}.{field} must have {n} numbers, got {arr.shape[0]}")
    return arr


def encode_objects(objects: dict, layout_sent: tuple | None) -> tuple[bytes, tuple]:
    """The STEP payload for ``objects`` and the layout it follows (names, joint counts), which
    travels only when it differs from ``layout_sent``. Raises ValueError/TypeError for unusable
    states."""
    if not isinstance(objects, dict):
        raise TypeError(f"object states must be a dict of ObjectState, got "
                        f"{type(objects).__name__}")
    layout, flags, parts = [], bytearray(), []
    for key, state in objects.items():
        name = state.name
        if type(key) is not str or type(name) is not str:
            raise TypeError("object names must be strings")
        for field, n in _FIELDS:
            v = getattr(state, field)
            if type(v) is not _NDARRAY or v.dtype is not _F8 or v.shape != (n,):
                v = _vector(state, field, n)
            parts.append(v.tobytes())
        joints = -1
        if state.joint_positions is not None:
            q = _vector(state, "joint_positions", None)
            parts.append(q.tobytes())
            joints = q.size
        layout.append((key, name, joints))
        flags.append((_GRIPPED if state.gripped else 0) | (_CLOSED if state.closed else 0)
                     | (_CAN_BE_GRIPPED if state.can_be_gripped else 0))
    layout = tuple(layout)
    if layout == layout_sent:
        head = b"\x00"
    else:
        text = dump_json(layout)
        head = b"\x01" + _HEADER.pack(len(text)) + text
    return b"".join([head, flags, *parts]), layout


class ObjectStates:
    """The worker's side of :func:`encode_objects`: the object states of the current layout,
    reused from step to step (their arrays are views of one buffer the next step overwrites;
    the executor copies what a program reads, and keeps nothing between steps)."""

    def __init__(self):
        self.layout = None
        self.states: dict[str, ObjectState] = {}
        self.buffer = np.zeros(0)

    def decode(self, payload: bytes) -> dict[str, ObjectState]:
        pos = 1
        if payload[:1] == b"\x01":
            (n,) = _HEADER.unpack_from(payload, 1)
            self._new_layout(json.loads(payload[5:5 + n]))
            pos = 5 + n
        count = len(self.states)
        flags = payload[pos:pos + count]
        self.buffer[:] = np.frombuffer(payload, _F8, offset=pos + count)
        for state, f in zip(self.states.values(), flags):
            state.gripped = bool(f & _GRIPPED)
            state.can_be_gripped = bool(f & _CAN_BE_GRIPPED)
            state.closed = bool(f & _CLOSED)
        return self.states

    def _new_layout(self, layout) -> None:
        self.layout = layout
        total = sum(10 + max(joints, 0) for _key, _name, joints in layout)
        self.buffer = buf = np.zeros(total)
        self.states, i = {}, 0
        for key, name, joints in layout:
            q = buf[i + 10:i + 10 + joints] if joints >= 0 else None
            self.states[key] = ObjectState(name, buf[i:i + 3], buf[i + 3:i + 6],
                                           quaternion=buf[i + 6:i + 10], joint_positions=q)
            i += 10 + max(joints, 0)


# ---- replies ---------------------------------------------------------------------------------
def encode_step(action, done: bool, current_step: int) -> bytes:
    return STEP_OK + _STEP_OK.pack(*(float(a) for a in action), bool(done), int(current_step))


def decode_step(payload: bytes) -> tuple[np.ndarray, bool, int]:
    if len(payload) != _STEP_OK.size:
        raise ProtocolError(f"step reply of {len(payload)} bytes")
    a0, a1, a2, a3, done, current_step = _STEP_OK.unpack(payload)
    if not (math.isfinite(a0 + a1 + a2 + a3) and current_step >= 1):
        raise ProtocolError("step reply out of range")
    return np.array((a0, a1, a2, a3)), done, current_step


def dump_json(value) -> bytes:
    # ASCII: a lone surrogate in a program string must not break the encoding
    return json.dumps(value, separators=(",", ":")).encode()


def encode_error(kind: str, message: str, lineno: int | None, issues=()) -> bytes:
    return ERROR + dump_json({"kind": kind, "message": message[:MAX_MESSAGE], "lineno": lineno,
                          "issues": [[i.lineno, i.message[:MAX_MESSAGE]] for i in issues][:60]})


def decode_error(payload: bytes) -> dict:
    try:
        err = json.loads(payload.decode())
        kind, message, lineno = err["kind"], err["message"], err["lineno"]
        issues = [(int(n), str(m)[:MAX_MESSAGE]) for n, m in err["issues"]][:60]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"error reply: {exc}") from None
    if not (isinstance(kind, str) and isinstance(message, str)
            and (lineno is None or isinstance(lineno, int))):
        raise ProtocolError("error reply: bad field types")
    return {"kind": kind, "message": message[:MAX_MESSAGE], "lineno": lineno, "issues": issues}


def decode_json(payload: bytes):
    return json.loads(payload.decode())
