"""The real offline model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M via llama-cpp-python) writes a
CodePolicy for push_button and reach_target, validated in the MuJoCo simulator.

Expensive (minutes per task on 2 cores): run with ``pytest -m expensive
test/test_teacher_offline.py``. Each task's record (tries, LLM calls, validation success, and
the best candidate's open-loop success over 50 held-out seeds) is written to
``$ITEACH_RESULTS_DIR`` (default ``results/``) as ``teacher_generation.json`` and ``.md``, with
the generated sources next to them. Skipped, with the reason, when the model or llama-cpp-python
is not installed (``scripts/setup_local_llm.sh``).
"""

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from iteach_ros.teacher.llm import LLMConfig, make_chat_model, offline_available

pytestmark = pytest.mark.expensive
# ITEACH_OFFLINE_MODEL_PATH: another GGUF (e.g. the 1.5B of setup_local_llm.sh --model 1.5b).
MODEL_PATH = os.environ.get("ITEACH_OFFLINE_MODEL_PATH", "")
CFG = LLMConfig(provider="offline", **({"model_path": MODEL_PATH} if MODEL_PATH else {}))
OK, WHY = offline_available(CFG)
TASKS = [t for t in os.environ.get("ITEACH_OFFLINE_TASKS", "push_button,reach_target").split(",")
         if t]
EVAL_SEEDS = list(range(1000, 1050))  # held out: generation validates on seeds 0..4
MAX_TRIES = int(os.environ.get("ITEACH_OFFLINE_TRIES", "8"))
# ITEACH_OFFLINE_HOLDOUT=1: leave out the few-shot examples related to the task (the paper's
# open question: a task no few-shot example covers); recorded under '<task>/holdout'.
HOLDOUT = os.environ.get("ITEACH_OFFLINE_HOLDOUT", "0") == "1"
RESULTS = Path(os.environ.get("ITEACH_RESULTS_DIR",
                              Path(__file__).resolve().parents[1] / "results"))


def _write(records: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "teacher_generation.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    old.update(records)
    path.write_text(json.dumps(old, indent=2) + "\n")
    lines = [
        "# CodePolicy generation with the offline model (measured)",
        "",
        "Written by `pytest -m expensive test/test_teacher_offline.py`. Tries: candidates "
        "validated in the simulator (open loop, seeds 0-4; accepted at >= 80 %). Open-loop "
        "success: the best candidate on 50 held-out seeds (1000-1049).",
        "",
        "| task | model | holdout | tries | LLM calls | LLM time (s) | accepted | validation "
        "success | open-loop success (50 seeds) | load avg | date |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _key, r in sorted(old.items()):
        lines.append(
            f"| {r['task']} | {r['model']} | {r['holdout_examples']} | {r['tries']} | "
            f"{r['llm_calls']} | {r['llm_seconds']} | {r['accepted']} | "
            f"{r['validation']['success_rate']:.2f} | "
            f"{r['evaluation']['successes']}/{r['evaluation']['episodes']} | "
            f"{r.get('load_avg_1m', '?')} | {r['created'][:10]} |")
    lines += ["", f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, shared with other jobs "
              "(load avg: 1-minute load when the task finished; LLM time grows with it). "
              "Sources and LLM transcripts in `results/teacher_generation/`."]
    (RESULTS / "teacher_generation.md").write_text("\n".join(lines) + "\n")


@pytest.mark.skipif(not OK, reason=f"offline model unavailable: {WHY}")
@pytest.mark.parametrize("task", TASKS)
def test_offline_model_generates_and_validates(task):
    from iteach_ros.sim import TASKS as SPECS
    from iteach_ros.teacher.generator import GenerationConfig, TeacherGenerator
    from iteach_ros.teacher.validation import validate_policy

    cfg = CFG
    spec = SPECS[task]
    log = []

    def progress(message):
        log.append(f"[{time.strftime('%H:%M:%S')}] {message}")
        print(log[-1], flush=True)

    gen = TeacherGenerator(make_chat_model(cfg), lambda s, t, seeds: validate_policy(s, t, seeds),
                           model_label=cfg.label, progress=progress,
                           config=GenerationConfig(max_tries=MAX_TRIES, holdout=HOLDOUT))
    t0 = time.time()
    result = gen.generate(task, spec.description, spec.object_names)
    assert result.best is not None and result.tries >= 1
    # Whatever the model wrote ran only inside the sandbox, and was validated in the simulator.
    assert result.best.report.episodes or result.best.report.static_error
    evaluation = validate_policy(result.best.source, task, EVAL_SEEDS)
    record = result.provenance()
    record["evaluation"] = evaluation.summary()
    record["wall_s"] = round(time.time() - t0, 1)
    record["load_avg_1m"] = round(os.getloadavg()[0], 1)
    record["log"] = log
    out = RESULTS / "teacher_generation"
    out.mkdir(parents=True, exist_ok=True)
    key = f"{task}/{cfg.model}" + ("/holdout" if HOLDOUT else "")
    stem = key.replace("/", "_")
    (out / f"{stem}.py").write_text(result.best.source)
    (out / f"{stem}.transcript.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in gen.transcript))
    record["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    _write({key: record})
    assert len(evaluation.episodes) == len(EVAL_SEEDS)
    if task in ("push_button", "reach_target") and not HOLDOUT:
        # With its few-shot examples the small model gets at least a program the sandbox
        # accepts and the simulator runs (measured: accepted at try 1 for both).
        assert result.best.report.static_ok, result.best.report.static_error
