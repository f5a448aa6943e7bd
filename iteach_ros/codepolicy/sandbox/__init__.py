"""Sandbox for untrusted (LLM-generated) CodePolicies (ROS-free).

One concern per module:

- ``whitelist``: what a program may use (syntax, names, attributes, numpy functions): the
  security boundary; a new numpy function or method must be reviewed before it is added.
- ``validate``: the static check of the AST before anything runs (:func:`validate_source`),
  with "did you mean" hints the repair loop hands to the LLM; bounded in time for any source.
- ``instrument``: ticks in every loop, function, lambda and comprehension; guards around
  operators, comparisons, subscripts, f-string fields, unpackings and size-dependent methods;
  ``__sb_catch`` at the top of every ``except`` handler; compilation (:func:`compile_policy`).
- ``guards``, ``guarded_ops``, ``numpy_proxy``: the runtime half (:class:`SandboxLimits`): CPU
  time from the start of the step, ticks, memory growth, sizes measured in bytes *before* an
  operation allocates, numeric dtypes only; what the program must not survive (a limit,
  ``RecursionError``, ``MemoryError``, an API error) cannot be caught.
- ``policy``: :class:`SandboxedPolicy`, the program on
  :class:`iteach_ros.codepolicy.fastexec.FastExecutor`.
- ``errors``: :class:`SandboxError`, the one exception type out of every entry point (``kind``
  says which layer, ``message`` what, ``lineno`` where), and :class:`SandboxLimits`.
- ``remote`` (caller side), ``process``, ``protocol``, ``worker`` (the worker process): the
  default for untrusted programs, :func:`untrusted_policy` (a teacher) and
  :func:`validation_policy` (validation rollouts under one wall-clock budget). The program runs
  in a worker process under kernel limits (address space, CPU time) and the caller's wall clock
  (:class:`WorkerLimits`); a worker that crashes, hangs or runs out of memory fails the episode
  and is replaced, and the caller gets a SandboxError. Everything that runs generated or
  user-supplied code goes through these two (``sandbox="in_process"`` picks
  :class:`SandboxedPolicy` instead, by the user's choice: ``SANDBOXES``).

The in-process guards are a first line: a single C-level call is not interrupted, and not
every one can be measured beforehand (see ``guards``); the worker contains the rest. Trusted
callers that need in-process speed (benchmarks, the reference programs' tests) may still use
:class:`SandboxedPolicy` directly.
"""

from iteach_ros.codepolicy.sandbox.errors import ERROR_KINDS, Issue, SandboxError, SandboxLimits
from iteach_ros.codepolicy.sandbox.instrument import CompiledPolicy, compile_policy
from iteach_ros.codepolicy.sandbox.policy import SandboxedPolicy, StepOutcome, load_policy
from iteach_ros.codepolicy.sandbox.remote import (
    DEFAULT_SANDBOX,
    SANDBOXES,
    WorkerLimits,
    WorkerPolicy,
    untrusted_policy,
    validation_policy,
)
from iteach_ros.codepolicy.sandbox.validate import validate_source
from iteach_ros.codepolicy.sandbox.whitelist import (
    API_NAMES,
    ATTRIBUTE_NAMES,
    CATCHABLE,
    FORBIDDEN_NAMES,
    NUMPY_LINALG_NAMES,
    NUMPY_NAMES,
    SAFE_BUILTINS,
)

__all__ = [
    "API_NAMES", "ATTRIBUTE_NAMES", "CATCHABLE", "DEFAULT_SANDBOX", "SANDBOXES",
    "FORBIDDEN_NAMES", "NUMPY_LINALG_NAMES", "NUMPY_NAMES", "SAFE_BUILTINS", "ERROR_KINDS",
    "CompiledPolicy", "Issue",
    "SandboxError", "SandboxLimits", "SandboxedPolicy", "StepOutcome", "WorkerLimits",
    "WorkerPolicy", "compile_policy", "load_policy", "untrusted_policy", "validate_source",
    "validation_policy",
]
