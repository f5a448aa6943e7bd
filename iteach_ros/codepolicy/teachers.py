"""Which CodePolicy teaches: the task's reference program, the best cached generated policy,
or a CodePolicy file. Generated and user-supplied programs always run in the sandbox."""

from __future__ import annotations

from pathlib import Path


def object_names(task: str) -> tuple[str, ...]:
    from iteach_ros.sim.tasks import TASKS

    return tuple(TASKS[task].object_names) if task in TASKS else ()


def make_teacher(task: str, source: str = "reference"):
    """An object with ``reset()`` and ``step(objects) -> TeacherStep`` (may raise on faults)
    and ``source`` (the program text).

    source: ``reference`` (the developers' program, trusted), ``cache`` (the best accepted
    entry of the policy cache) or a path to a CodePolicy ``.py`` file.
    """
    from iteach_ros.codepolicy.sandbox import SandboxedPolicy

    if source == "reference":
        from iteach_ros.codepolicy.reference import load_reference, reference_executor

        executor = reference_executor(task)
        executor.source = load_reference(task)
        return executor
    if source == "cache":
        from iteach_ros.teacher.cache import PolicyCache

        cache = PolicyCache()
        entry = cache.best(task)
        if entry is None:
            raise FileNotFoundError(
                f"no accepted CodePolicy for {task!r} in {cache.root}; generate one with "
                f"`python -m iteach_ros.teacher.cli generate --task {task}` or use "
                f"policy_source=reference")
        return SandboxedPolicy(entry.source, object_names(task), filename=str(entry.path))
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"CodePolicy source {source!r}: not 'reference', 'cache' or a "
                                f"file")
    return SandboxedPolicy(path.read_text(encoding="utf-8"), object_names(task),
                           filename=str(path))
