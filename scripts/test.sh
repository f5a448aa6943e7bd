#!/usr/bin/env bash
# Set up (idempotent) and run the test suite: ruff, then pytest over test/.
#   scripts/test.sh                  everything, expensive tests included
#   scripts/test.sh -m "not expensive"   extra arguments go to pytest
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" ${ITEACH_SETUP_ARGS:-}
PY="${ITEACH_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"
echo "[test] ruff"
"$PY" -m ruff check .
echo "[test] pytest"
set +e
"$PY" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "[test] pytest collected no tests" >&2
fi
exit "$rc"
