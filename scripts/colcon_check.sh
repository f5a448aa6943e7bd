#!/usr/bin/env bash
# Build this repository with colcon the way a ROS 2 user would, against the wheel venv as the
# underlay, then check from a clean shell that the colcon-installed package imports.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ITEACH_VENV:-$ROOT/.venv}"
WS="${1:-$ROOT/build/colcon_ws}"
SRC="$WS/src/iteach_ros"
# A workspace of its own with a copy of the sources, as a user's clone in ws/src would be (building
# in place would also put the in-repo venv's include paths "inside the source directory").
rm -rf "$SRC" && mkdir -p "$SRC"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$SRC"
export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
echo "[colcon] building a copy of $ROOT in $WS"
(cd "$WS" && colcon --log-base "$WS/log" build --base-paths "$WS/src" \
  --build-base "$WS/build" --install-base "$WS/install" --event-handlers console_cohesion- \
  --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
  -DCMAKE_BUILD_TYPE=Release)
echo "[colcon] checking the installed package from a clean shell"
env -i HOME="$HOME" PATH=/usr/bin:/bin bash -c "
  set -e
  source '$WS/install/setup.bash'
  cd /tmp
  '$VENV/bin/python' - <<'PY'
import iteach_ros.msg as m, iteach_ros.srv as s
import iteach_ros.codepolicy.runtime as rt
for path in (m.__file__, rt.__file__):
    assert '$WS/install' in path, f'not from the colcon install: {path}'
msg = m.Feedback(angle_deg=12.5, kind=m.Feedback.KIND_CORRECTIVE)
assert msg.kind == 1 and s.ResetEpisode.Request(seed=3).seed == 3
from rclpy.serialization import deserialize_message, serialize_message
assert deserialize_message(serialize_message(msg), m.Feedback).angle_deg == 12.5
print('colcon-built iteach_ros imports:', m.__file__)
PY
  test -f '$WS/install/iteach_ros/share/iteach_ros/package.xml'
"
echo "[colcon] ok"
