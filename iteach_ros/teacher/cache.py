"""Cache of validated CodePolicies per task, each with a provenance record.

Layout: ``<root>/<task>/<UTC timestamp>_<source sha256[:8]>.py`` plus a ``.json`` of the same
stem holding the provenance (model, prompt hash, date, validation success rate and seeds, tries,
plan). Default root: ``$ITEACH_POLICY_CACHE`` or ``~/.cache/iteach_ros/policies``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_TASK_RE = re.compile(r"^[A-Za-z0-9_\-]+$")


def default_cache_root() -> Path:
    env = os.environ.get("ITEACH_POLICY_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("ITEACH_CACHE", Path.home() / ".cache" / "iteach_ros"))
    return base / "policies"


@dataclass
class CacheEntry:
    task: str
    path: Path  # the .py file
    provenance: dict

    @property
    def source(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def success_rate(self) -> float:
        return float((self.provenance.get("validation") or {}).get("success_rate", 0.0))

    @property
    def accepted(self) -> bool:
        return bool(self.provenance.get("accepted", False))


class PolicyCache:
    """Accepted (and, on request, best-effort) CodePolicies on disk."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root else default_cache_root()

    def _task_dir(self, task: str) -> Path:
        if not _TASK_RE.match(task):
            raise ValueError(f"invalid task name {task!r}")
        return self.root / task

    def save(self, task: str, source: str, provenance: dict) -> CacheEntry:
        digest = hashlib.sha256(source.encode()).hexdigest()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        directory = self._task_dir(task)
        directory.mkdir(parents=True, exist_ok=True)
        stem = f"{stamp}_{digest[:8]}"
        prov = dict(provenance, task=task, source_sha256=digest, file=f"{stem}.py")
        py, js = directory / f"{stem}.py", directory / f"{stem}.json"
        tmp = directory / f".{stem}.tmp"
        tmp.write_text(source, encoding="utf-8")
        tmp.replace(py)
        tmp.write_text(json.dumps(prov, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(js)
        return CacheEntry(task, py, prov)

    def entries(self, task: str | None = None) -> list[CacheEntry]:
        """All entries (of one task), oldest first; entries whose source changed are skipped."""
        tasks = [task] if task else sorted(p.name for p in self.root.glob("*") if p.is_dir())
        out = []
        for t in tasks:
            for js in sorted(self._task_dir(t).glob("*.json")):
                py = js.with_suffix(".py")
                try:
                    prov = json.loads(js.read_text(encoding="utf-8"))
                    src = py.read_text(encoding="utf-8")
                except (OSError, ValueError):
                    continue
                if prov.get("source_sha256") != hashlib.sha256(src.encode()).hexdigest():
                    continue  # edited by hand: not what was validated
                out.append(CacheEntry(t, py, prov))
        return out

    def best(self, task: str, accepted_only: bool = True) -> CacheEntry | None:
        """The entry with the highest validation success rate (latest on ties)."""
        cands = [e for e in self.entries(task) if e.accepted or not accepted_only]
        if not cands:
            return None
        return max(enumerate(cands), key=lambda ie: (ie[1].success_rate, ie[0]))[1]
