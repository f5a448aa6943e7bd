#!/usr/bin/env bash
# The main job on the embedded default: MuJoCo scene, offline CodePolicy teacher, the whole
# ROS 2 graph (sim_bridge, teacher, arbiter, learner as separate processes over DDS).
#   1. warm start: BC on 10 teacher demonstrations (in-process experiment runner)
#   2. interactive training through the graph, every topic recorded to MCAP
#   3. evaluation through the graph on held-out seeds (learner acts alone)
# Environment knobs: TASK (push_button), EPISODES (30), EVAL_EPISODES (20), WARM_STEPS (300),
# POLICY_SOURCE (cache: the offline LLM's generated CodePolicy, cached or shipped; else the
# reference program).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
PY="${ITEACH_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"

TASK="${TASK:-push_button}"
EPISODES="${EPISODES:-30}"
EVAL_EPISODES="${EVAL_EPISODES:-20}"
WARM_STEPS="${WARM_STEPS:-300}"
OUT="${OUT:-runs/main_$(date +%Y%m%d-%H%M%S)}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((RANDOM % 100 + 1))}"
if [ -z "${POLICY_SOURCE:-}" ]; then
  POLICY_SOURCE=$("$PY" -c "from iteach_ros.codepolicy.teachers import find_cached_policy as f
print('cache' if f('$TASK') else 'reference')")
fi
echo "[main] task $TASK, teacher CodePolicy: $POLICY_SOURCE, results in $OUT"

echo "[main] 1/3 warm start: BC on 10 demonstrations, $WARM_STEPS gradient steps"
"$PY" -m iteach_ros.experiments.run --task "$TASK" --methods bc --demos 10 \
  --bc-steps "$WARM_STEPS" --eval-episodes 0 --teacher "$POLICY_SOURCE" \
  --out "$OUT" --run-name warm_start --quiet

echo "[main] 2/3 interactive training through the ROS 2 graph: $EPISODES episodes"
"$PY" -m iteach_ros.ros.launcher --task "$TASK" --episodes "$EPISODES" --seed 100000 \
  --policy-source "$POLICY_SOURCE" --warm-start "$OUT/warm_start/$TASK/bc/policy.pt" \
  --checkpoint-dir "$OUT/learner" --record --record-output "$OUT/bag" --out "$OUT/train"

echo "[main] 3/3 evaluation through the graph: $EVAL_EPISODES held-out episodes"
"$PY" -m iteach_ros.ros.launcher --task "$TASK" --episodes "$EVAL_EPISODES" --seed 900000 \
  --mode agent_only --train false --policy-source "$POLICY_SOURCE" \
  --checkpoint-dir "$OUT/learner" --out "$OUT/eval"
echo "[main] done: $OUT (train/episodes.csv, eval/episodes.csv, bag/, learner/)"
