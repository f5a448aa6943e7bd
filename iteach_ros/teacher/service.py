"""Which CodePolicy teaches a task: one module for the experiment runner, the CLI and the
teacher node (ROS-free).

Sources (:data:`POLICY_SOURCES`, or the path of a CodePolicy ``.py`` file):

- ``auto``: the best accepted LLM-written CodePolicy, from the user's policy cache, else from the
  ones shipped with the package (``shipped_policies/``); the developers' reference program only
  for a task that has neither;
- ``cache``: the same LLM-written CodePolicy, and an error where there is none;
- ``generate``: the user's cache, else a CodePolicy generated now by the configured chat model
  (validated in the simulator and cached with its provenance when accepted); an error when no
  generated program is accepted. ``regenerate`` skips the cache;
- ``reference``: the developers' reference program (trusted; not LLM output);
- a path: that file.

Everything but the reference program runs in the sandbox (:meth:`ObtainedPolicy.executor`), in
a worker process unless the caller asks for ``sandbox="in_process"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from iteach_ros.codepolicy.sandbox import DEFAULT_SANDBOX
from iteach_ros.core.tasks import object_names, task_info
from iteach_ros.teacher.cache import CacheEntry, PolicyCache
from iteach_ros.teacher.generator import (
    GenerationConfig,
    GenerationError,
    GenerationResult,
    TeacherGenerator,
)
from iteach_ros.teacher.llm import LLMConfig, make_chat_model

POLICY_SOURCES = ("auto", "cache", "generate", "reference")
# Accepted CodePolicies generated with the default offline LLM, so the project teaches with
# LLM-written programs without the LLM installed.
SHIPPED_POLICIES = Path(__file__).resolve().parent / "shipped_policies"


@dataclass
class ObtainedPolicy:
    task: str
    source: str  # the program text
    origin: str  # 'cache' | 'shipped' | 'generated' | 'generated-unaccepted' | 'reference' | 'file'
    object_names: tuple[str, ...]
    provenance: dict = field(default_factory=dict)
    path: Path | None = None  # where the program was read from

    @property
    def llm_written(self) -> bool:
        return self.origin in ("cache", "shipped", "generated", "generated-unaccepted")

    def executor(self, limits=None, sandbox: str = DEFAULT_SANDBOX):
        """An object with ``reset()``, ``step(objects) -> TeacherStep`` (may raise on faults),
        ``close()`` and ``source``: the reference program's trusted executor, or the sandbox."""
        if self.origin == "reference":
            from iteach_ros.codepolicy.reference import reference_executor

            executor = reference_executor(self.task)
            executor.source = self.source
            return executor
        return self.sandboxed(limits, sandbox)

    def sandboxed(self, limits=None, sandbox: str = DEFAULT_SANDBOX):
        """The program in the sandbox: a worker process (default) or, with
        ``sandbox="in_process"``, the in-process guards alone. Close it when done."""
        from iteach_ros.codepolicy.sandbox import untrusted_policy

        name = str(self.path) if self.path else f"<codepolicy {self.task} ({self.origin})>"
        return untrusted_policy(self.source, self.object_names, limits=limits, sandbox=sandbox,
                                filename=name)


def find_cached_policy(task: str, cache: PolicyCache | None = None,
                       shipped: bool = True) -> CacheEntry | None:
    """The best accepted generated CodePolicy: the user's cache first, then (``shipped``) the
    ones shipped with the package."""
    caches = [cache or PolicyCache()] + ([PolicyCache(SHIPPED_POLICIES)] if shipped else [])
    for c in caches:
        entry = c.best(task)
        if entry is not None:
            return entry
    return None


def _from_entry(task: str, entry: CacheEntry) -> ObtainedPolicy:
    origin = "shipped" if SHIPPED_POLICIES in entry.path.parents else "cache"
    return ObtainedPolicy(task, entry.source, origin, object_names(task), entry.provenance,
                          entry.path)


def _reference(task: str) -> ObtainedPolicy:
    from iteach_ros.codepolicy.reference import load_reference

    return ObtainedPolicy(task, load_reference(task), "reference", object_names(task),
                          {"origin": "reference"})


def obtain_policy(task: str, source: str = "auto", *, llm: LLMConfig | None = None,
                  cache: PolicyCache | None = None, generation: GenerationConfig | None = None,
                  regenerate: bool = False, accept_unvalidated: bool = False, chat_model=None,
                  validator=None, progress: Callable[[str], None] | None = None,
                  on_exchange: Callable[[dict], None] | None = None) -> ObtainedPolicy:
    """The task's CodePolicy from ``source`` (see the module docstring).

    llm / chat_model: the chat model that generates (``chat_model`` overrides the configured
        one, e.g. a fake in tests); validator: overrides the simulator validation (tests).
    accept_unvalidated: with ``generate``, use the best generated program even if it was not
        accepted (it is not cached).
    Raises LookupError (nothing available from that source) or FileNotFoundError (a path).
    """
    names = object_names(task)
    say = progress or (lambda message: None)
    cache = cache or PolicyCache()
    if source == "reference":
        return _reference(task)
    if source in ("auto", "cache"):
        entry = find_cached_policy(task, cache)
        if entry is not None:
            say(f"{task}: LLM-written CodePolicy {entry.path} (validation success "
                f"{entry.success_rate:.2f}, {entry.provenance.get('model', '?')})")
            return _from_entry(task, entry)
        if source == "auto":
            say(f"{task}: no LLM-written CodePolicy cached or shipped; using the reference "
                "program (not LLM output)")
            return _reference(task)
        raise LookupError(f"no accepted CodePolicy for {task!r} in {cache.root} or the shipped "
                          f"ones; generate one with `python -m iteach_ros.teacher.cli generate "
                          f"--task {task}` or use the source 'reference'")
    if source == "generate":
        entry = None if regenerate else cache.best(task)
        if entry is not None:
            say(f"{task}: cached CodePolicy {entry.path} (validation success "
                f"{entry.success_rate:.2f}); regenerate to write a new one")
            return _from_entry(task, entry)
        return _generate(task, names, llm or LLMConfig(), cache, generation, accept_unvalidated,
                         chat_model, validator, say, on_exchange)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"CodePolicy source {source!r}: not one of {POLICY_SOURCES} "
                                "or a file")
    return ObtainedPolicy(task, path.read_text(encoding="utf-8"), "file", names,
                          {"origin": "file", "path": str(path)}, path)


def generate_policy(task: str, llm: LLMConfig | None = None, *,
                    cache: PolicyCache | None = None, generation: GenerationConfig | None = None,
                    chat_model=None, validator=None, save_rejected: bool = False,
                    progress: Callable[[str], None] | None = None,
                    on_exchange: Callable[[dict], None] | None = None
                    ) -> tuple[GenerationResult, dict, CacheEntry | None]:
    """Generate the task's CodePolicy now (the search of ``generator``), validated in the
    simulator; the best program is cached with its provenance when accepted (or
    ``save_rejected``). Returns the result, the provenance and the cache entry (None when not
    cached). Raises GenerationError when the LLM gave nothing usable."""
    info = task_info(task)
    llm = llm or LLMConfig()
    cache = cache or PolicyCache()
    say = progress or (lambda message: None)
    if validator is None:
        from iteach_ros.teacher.validation import validate_policy

        def validator(source, t, seeds):
            return validate_policy(source, t, seeds)

    say(f"{task}: generating a CodePolicy for '{info.description}' (objects "
        f"{list(info.object_names)}) with {llm.label}")
    try:
        gen = TeacherGenerator(chat_model or make_chat_model(llm), validator,
                               model_label=llm.label, config=generation, progress=say,
                               on_exchange=on_exchange)
        result = gen.generate(task, info.description, object_names(task), info.graspable)
    except RuntimeError as exc:
        if isinstance(exc, GenerationError):
            raise
        raise GenerationError(f"the chat model could not run: {exc}") from exc
    best = result.best
    say(f"{task}: {result.tries} programs validated, {result.llm_calls} LLM calls "
        f"({result.llm_seconds:.0f} s), {result.elapsed_s:.0f} s in all ({result.stopped}); "
        + (f"accepted={result.accepted}, best success {best.success_rate:.2f}" if best
           else "no program"))
    prov = result.provenance()
    prov["llm_config"] = {k: v for k, v in llm.to_dict().items() if k != "fake_responses"}
    entry = None
    if best is not None and (result.accepted or save_rejected):
        entry = cache.save(task, best.source, prov)
        say(f"{task}: cached as {entry.path}")
    return result, prov, entry


def _generate(task, names, llm, cache, generation, accept_unvalidated, chat_model, validator,
              say, on_exchange) -> ObtainedPolicy:
    try:
        result, prov, entry = generate_policy(
            task, llm, cache=cache, generation=generation, chat_model=chat_model,
            validator=validator, progress=say, on_exchange=on_exchange)
    except GenerationError as exc:
        raise LookupError(f"{task}: generation failed: {exc}") from exc
    if entry is not None:
        return ObtainedPolicy(task, entry.source, "generated", names, entry.provenance,
                              entry.path)
    if result.best is not None and accept_unvalidated:
        return ObtainedPolicy(task, result.best.source, "generated-unaccepted", names, prov)
    raise LookupError(f"{task}: no generated CodePolicy was accepted ({result.stopped})")


def make_teacher(task: str, source: str = "auto", sandbox: str = DEFAULT_SANDBOX, **kwargs):
    """The executor of :func:`obtain_policy`'s CodePolicy (``reset``, ``step``, ``close``,
    ``source``); generated and file programs in a worker unless ``sandbox="in_process"``."""
    return obtain_policy(task, source, **kwargs).executor(sandbox=sandbox)
