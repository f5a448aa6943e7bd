#!/usr/bin/env bash
# The colcon route of docs/building.md, run as written: the commands of its block between the
# "colcon-route" markers run in a clean shell (HOME a fresh folder, so ~/ros2_ws is new; the
# venv as the underlay), then a second clean shell that only sources the workspace checks what
# a user gets: ROS_DISTRO, AMENT_PREFIX_PATH, the colcon-installed package, and with the ros2
# CLI (a ROS install's or the upstream kit's) `ros2 interface show` and `ros2 launch --show-args`.
#
#   scripts/colcon_check.sh [HOME_DIR]     HOME_DIR: where ~/ros2_ws is made (default: a temp dir)
#
# The route clones this checkout, so what is checked is what is committed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ITEACH_VENV:-$ROOT/.venv}"
HOME_DIR="${1:-$(mktemp -d)}"
WS="$HOME_DIR/ros2_ws"
[ -f "$VENV/setup.bash" ] || { echo "colcon_check: $VENV/setup.bash is missing: run scripts/setup.sh" >&2; exit 1; }
[ ! -e "$WS" ] || { echo "colcon_check: $WS exists; give an empty HOME_DIR" >&2; exit 1; }
mkdir -p "$HOME_DIR"

route=$(sed -n '/<!-- colcon-route: begin/,/<!-- colcon-route: end/p' "$ROOT/docs/building.md" \
  | sed -n '/^```bash$/,/^```$/p' | sed '1d;$d')
[ -n "$route" ] || { echo "colcon_check: no colcon-route block in docs/building.md" >&2; exit 1; }
route=${route//.venv\//$VENV/}  # ITEACH_VENV: the same commands on another venv
# Without a ros2 CLI the route's ros2 lines cannot run: say so instead of failing.
no_cli='ros2() { if type -P ros2 >/dev/null; then command ros2 "$@"; else
  echo "[colcon] no ros2 CLI (neither a ROS install nor ../shared/ros2_upstream): skipped: ros2 $*"; fi; }'

echo "[colcon] docs/building.md's route, HOME=$HOME_DIR:"
sed 's/^/    /' <<<"$route"
start=$(date +%s)
# ITEACH_VENV passes through, so the block's scripts/setup.sh sets up that venv, not .venv.
(cd "$ROOT" && env -i HOME="$HOME_DIR" PATH=/usr/bin:/bin TERM=dumb ${ITEACH_VENV:+ITEACH_VENV="$VENV"} \
  bash -eo pipefail -c \
  "$no_cli"$'\n'"$route")
echo "[colcon] route done in $(( $(date +%s) - start )) s; checking a new shell that sources only install/setup.bash"

env -i HOME="$HOME_DIR" PATH=/usr/bin:/bin bash -eo pipefail -c "
  source '$WS/install/setup.bash'
  cd /tmp
  test \"\$ROS_DISTRO\" = jazzy || { echo 'ROS_DISTRO is not jazzy:' \"\$ROS_DISTRO\"; exit 1; }
  case \":\$AMENT_PREFIX_PATH:\" in *':$WS/install/iteach_ros:'*'$VENV:'*) ;;
    *) echo \"AMENT_PREFIX_PATH lacks the workspace or the venv: \$AMENT_PREFIX_PATH\"; exit 1 ;; esac
  python3 - <<'PY'
import iteach_ros.msg as m, iteach_ros.srv as s
import iteach_ros.codepolicy.runtime as rt
from tf2_msgs.msg import TFMessage
for path in (m.__file__, rt.__file__):
    assert '$WS/install' in path, f'not from the colcon install: {path}'
msg = m.Feedback(angle_deg=12.5, kind=m.Feedback.KIND_CORRECTIVE)
assert msg.kind == 1 and s.ResetEpisode.Request(seed=3).seed == 3
from rclpy.serialization import deserialize_message, serialize_message
assert deserialize_message(serialize_message(msg), m.Feedback).angle_deg == 12.5
assert TFMessage().transforms == []
print('[colcon] colcon-built iteach_ros imports:', m.__file__)
PY
  test -f '$WS/install/iteach_ros/share/iteach_ros/package.xml'
  if type -P ros2 >/dev/null; then
    # whole outputs first: grep -q would close the pipe on a still-writing ros2 (pipefail)
    feedback=\$(ros2 interface show iteach_ros/msg/Feedback)
    grep -q 'KIND_CORRECTIVE=1' <<<\"\$feedback\"
    tf=\$(ros2 interface show tf2_msgs/msg/TFMessage)
    grep -q 'TransformStamped\\[\\] transforms' <<<\"\$tf\"
    test \"\$(ros2 pkg prefix iteach_ros)\" = '$WS/install/iteach_ros'
    launch_args=\$(ros2 launch iteach_ros iteach.launch.py --show-args)
    grep -q \"'task'\" <<<\"\$launch_args\"
    echo '[colcon] ros2 interface show, ros2 pkg prefix and ros2 launch --show-args work'
  else
    echo '[colcon] no ros2 CLI here: ros2 interface / launch not checked'
  fi
"
echo "[colcon] ok"
