"""Which CodePolicy teaches: the task's reference program, the best cached generated policy,
or a CodePolicy file. Generated and user-supplied programs always run in the sandbox."""

from __future__ import annotations

from pathlib import Path

# Accepted CodePolicies generated with the offline LLM, shipped so the project runs without it.
SHIPPED_POLICIES = Path(__file__).resolve().parents[1] / "teacher" / "shipped_policies"


def object_names(task: str) -> tuple[str, ...]:
    from iteach_ros.sim.tasks import TASKS

    return tuple(TASKS[task].object_names) if task in TASKS else ()


def find_cached_policy(task: str):
    """The best accepted generated CodePolicy: the user's cache first, then the shipped ones."""
    from iteach_ros.teacher.cache import PolicyCache

    for cache in (PolicyCache(), PolicyCache(SHIPPED_POLICIES)):
        entry = cache.best(task)
        if entry is not None:
            return entry
    return None


def make_teacher(task: str, source: str = "reference"):
    """An object with ``reset()`` and ``step(objects) -> TeacherStep`` (may raise on faults)
    and ``source`` (the program text).

    source: ``reference`` (the developers' program, trusted), ``cache`` (the best accepted
    generated policy, see ``find_cached_policy``) or a path to a CodePolicy ``.py`` file.
    """
    from iteach_ros.codepolicy.sandbox import SandboxedPolicy

    if source == "reference":
        from iteach_ros.codepolicy.reference import load_reference, reference_executor

        executor = reference_executor(task)
        executor.source = load_reference(task)
        return executor
    if source == "cache":
        entry = find_cached_policy(task)
        if entry is None:
            raise FileNotFoundError(
                f"no accepted CodePolicy for {task!r} in the policy cache or the shipped ones; "
                f"generate one with `python -m iteach_ros.teacher.cli generate --task {task}` "
                f"or use policy_source=reference")
        return SandboxedPolicy(entry.source, object_names(task), filename=str(entry.path))
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"CodePolicy source {source!r}: not 'reference', 'cache' or a "
                                f"file")
    return SandboxedPolicy(path.read_text(encoding="utf-8"), object_names(task),
                           filename=str(path))
