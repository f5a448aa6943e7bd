"""One call for the teacher node: a task's CodePolicy from the cache, or generated (ROS-free).

``obtain_policy(task)`` returns the best cached, accepted CodePolicy for the task; when there is
none and generation is allowed, it generates one with the configured chat model (validated in
the simulator, cached with provenance when accepted); when that fails too it can fall back to
the developers' reference program. The result is always run through the sandbox:
``ObtainedPolicy.sandboxed()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from iteach_ros.codepolicy.sandbox import SandboxedPolicy, SandboxLimits
from iteach_ros.teacher.cache import PolicyCache
from iteach_ros.teacher.generator import GenerationConfig, GenerationError, TeacherGenerator
from iteach_ros.teacher.llm import LLMConfig, make_chat_model


@dataclass
class ObtainedPolicy:
    task: str
    source: str
    origin: str  # 'cache' | 'generated' | 'generated-unaccepted' | 'reference'
    object_names: tuple[str, ...]
    provenance: dict = field(default_factory=dict)

    def sandboxed(self, limits: SandboxLimits | None = None) -> SandboxedPolicy:
        return SandboxedPolicy(self.source, self.object_names, limits,
                               filename=f"<codepolicy {self.task} ({self.origin})>")


def obtain_policy(task: str, llm: LLMConfig | None = None, *, cache: PolicyCache | None = None,
                  generate: bool = True, generation: GenerationConfig | None = None,
                  fallback_to_reference: bool = True, accept_unvalidated: bool = False,
                  chat_model=None, validator=None,
                  progress: Callable[[str], None] | None = None) -> ObtainedPolicy:
    """The task's CodePolicy: cache, else generation, else the reference program.

    accept_unvalidated: use the best generated candidate even if it was not accepted (it is
        not cached); otherwise an unaccepted generation falls through to the reference.
    chat_model / validator: override the configured model and the simulator validation (tests).
    Raises LookupError when nothing is available.
    """
    from iteach_ros.sim import TASKS

    spec = TASKS[task]
    names = tuple(spec.object_names)
    cache = cache or PolicyCache()
    say = progress or (lambda message: None)
    entry = cache.best(task)
    if entry is not None:
        say(f"{task}: cached CodePolicy {entry.path.name} (success "
            f"{entry.success_rate:.2f}, {entry.provenance.get('model', '?')})")
        return ObtainedPolicy(task, entry.source, "cache", names, entry.provenance)
    if generate:
        llm = llm or LLMConfig()
        if validator is None:
            from iteach_ros.teacher.validation import validate_policy

            def validator(source, t, seeds):
                return validate_policy(source, t, seeds)

        try:
            gen = TeacherGenerator(chat_model or make_chat_model(llm), validator,
                                   model_label=llm.label, config=generation, progress=say)
            result = gen.generate(task, spec.description, names)
        except (GenerationError, RuntimeError) as exc:
            say(f"{task}: generation failed: {exc}")
        else:
            if result.best is not None and result.accepted:
                prov = result.provenance()
                cache.save(task, result.best.source, prov)
                return ObtainedPolicy(task, result.best.source, "generated", names, prov)
            if result.best is not None and accept_unvalidated:
                return ObtainedPolicy(task, result.best.source, "generated-unaccepted", names,
                                      result.provenance())
            say(f"{task}: no generated CodePolicy was accepted")
    if fallback_to_reference:
        from iteach_ros.codepolicy.reference import load_reference

        try:
            source = load_reference(task)
        except KeyError:
            pass
        else:
            say(f"{task}: using the reference program (not LLM output)")
            return ObtainedPolicy(task, source, "reference", names, {"origin": "reference"})
    raise LookupError(f"no CodePolicy available for task {task!r}")
