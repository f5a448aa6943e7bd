"""Documentation generated from the code's own tables: a block between two marker comments in a
documentation file (under ``docs/``) is rewritten from its source, and a ``--check`` tells when
it is out of step. One place for the mechanism; each table's module says what it writes."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def replace_block(text: str, begin: str, end: str, body: str) -> str:
    """``text`` with what lies between the ``begin`` and ``end`` lines replaced by ``body``."""
    try:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
    except ValueError:
        raise ValueError(f"no {begin!r} ... {end!r} block") from None
    return f"{head}{begin}\n{body}\n{end}{tail}"


def sync(renders: list[tuple[Path, Callable[[str], str]]], description: str,
         argv=None) -> int:
    """Rewrite each file with its ``render(old text)``; with ``--check`` only report (exit 1)
    the files out of step."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="only report files out of step")
    args = parser.parse_args(argv)
    stale = []
    for path, render in renders:
        old = path.read_text(encoding="utf-8")
        new = render(old)
        if new != old:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{path}: {'out of step' if args.check else 'rewritten'}")
    return 1 if args.check and stale else 0
