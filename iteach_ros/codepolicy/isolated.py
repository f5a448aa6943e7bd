"""The sandbox worker configured by two keywords (ROS-free).

:class:`IsolatedPolicy` is :class:`iteach_ros.codepolicy.sandbox.remote.WorkerPolicy` taking
``address_space_bytes`` and ``wall_timeout_s`` (the per-step wall-clock limit) instead of a
``WorkerLimits``; kept for callers that use those keywords. New code calls
:func:`iteach_ros.codepolicy.sandbox.untrusted_policy`.
"""

from __future__ import annotations

from iteach_ros.codepolicy.sandbox.errors import SandboxLimits
from iteach_ros.codepolicy.sandbox.remote import WorkerLimits, WorkerPolicy


class IsolatedPolicy(WorkerPolicy):
    """A WorkerPolicy configured by ``address_space_bytes`` and ``wall_timeout_s``."""

    def __init__(self, source: str, object_names=None, limits: SandboxLimits | None = None,
                 filename: str = "<codepolicy>",
                 address_space_bytes: int = WorkerLimits.address_space_bytes,
                 wall_timeout_s: float = WorkerLimits.step_wall_s):
        super().__init__(source, object_names, limits, filename, WorkerLimits(
            address_space_bytes=int(address_space_bytes), step_wall_s=float(wall_timeout_s)))


__all__ = ["IsolatedPolicy"]
