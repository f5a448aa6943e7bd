"""Benchmark tables written as Markdown under results/, headed by the command that made them."""

from __future__ import annotations

from pathlib import Path


def write_markdown(path: str, script: str, argv: list[str], lines: list[str]) -> None:
    """``lines`` to ``path``, after "Measured with `python benchmarks/<script> <argv>`"."""
    command = " ".join(["python", f"benchmarks/{script}", *argv])
    Path(path).write_text(f"Measured with `{command}`\n\n" + "\n".join(lines) + "\n")
