#!/usr/bin/env bash
# The main job on the embedded default: the paper's protocol on push_button through the ROS 2
# graph (sim_bridge with MuJoCo, teacher with the offline LLM's generated CodePolicy, arbiter,
# learner as separate processes over DDS):
#   1. 10 teacher demonstrations (recorded open loop) for the learner's warm start
#   2. 100 interactive episodes through the graph: the learner trains its warm start, then
#      trains continuously on the arbiter's feedback, paced at >= 4 gradient steps per episode;
#      every 20 episodes the learner acts alone on 10 progress-check episodes
#   3. 100 held-out evaluation episodes through the graph (the learner alone, weights frozen)
# It prints the evaluation table and writes episodes.csv, summary.json, training.png and the
# learner's checkpoint under $OUT.
# Environment knobs: TASK (push_button), EPISODES (100), EVAL_EPISODES (100),
# POLICY_SOURCE (cache: the offline LLM's generated CodePolicy, cached or shipped; else the
# reference program), RECORD=1 (also record the interactive phase's topics to an MCAP bag),
# PERCEPTION=1 (the teacher reads object states from the perception node, not the simulator),
# ACTION_MODE (4d; 7d adds droll, dpitch, dyaw to every node's action space),
# OUT (runs/main_<timestamp>).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
PY="${ITEACH_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"

TASK="${TASK:-push_button}"
EPISODES="${EPISODES:-100}"
EVAL_EPISODES="${EVAL_EPISODES:-100}"
OUT="${OUT:-runs/main_$(date +%Y%m%d-%H%M%S)}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((RANDOM % 100 + 1))}"
if [ -z "${POLICY_SOURCE:-}" ]; then
  POLICY_SOURCE=$("$PY" -c "from iteach_ros.teacher.service import find_cached_policy as f
print('cache' if f('$TASK') else 'reference')")
fi
echo "[main] task $TASK, teacher CodePolicy: $POLICY_SOURCE, ROS_DOMAIN_ID $ROS_DOMAIN_ID," \
  "results in $OUT"
start=$(date +%s)
"$PY" -m iteach_ros.experiments.run --transport graph --task "$TASK" --methods llm_iteach \
  --teacher "$POLICY_SOURCE" --episodes "$EPISODES" --eval-episodes "$EVAL_EPISODES" \
  --record "$([ "${RECORD:-0}" = 1 ] && echo true || echo false)" \
  --perceived-states "$([ "${PERCEPTION:-0}" = 1 ] && echo true || echo false)" \
  --action-mode "${ACTION_MODE:-4d}" \
  --out "$OUT" --run-name main
echo "[main] done in $(( $(date +%s) - start )) s (load average: $(cut -d' ' -f1-3 /proc/loadavg)):" \
  "$OUT/main/$TASK/llm_iteach (episodes.csv, summary.json, training.png, graph/learner/)"
