"""Reference CodePolicy programs, one per task, written by the iteach_ros developers.

They are *not* LLM output. Each is plain source text for ``CodePolicyExecutor`` written against
the paper's CodePolicy API; it proves that a task's scene and success check are solvable, and
serves as an offline teacher until a generated CodePolicy exists.
"""

from __future__ import annotations

from importlib import resources

from iteach_ros.codepolicy.runtime import CodePolicyExecutor


def available() -> list[str]:
    """Task names that have a reference program."""
    return sorted(p.name[:-3] for p in resources.files(__name__).iterdir()
                  if p.name.endswith(".py") and not p.name.startswith("_"))


def load_reference(task: str) -> str:
    """Source text of the reference program for ``task``."""
    path = resources.files(__name__) / f"{task}.py"
    if not path.is_file():
        raise KeyError(f"no reference program for task {task!r}; have: {available()}")
    return path.read_text(encoding="utf-8")


def reference_executor(task: str) -> CodePolicyExecutor:
    return CodePolicyExecutor(load_reference(task), filename=f"<reference {task}>")
