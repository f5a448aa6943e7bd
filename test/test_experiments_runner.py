"""A smoke configuration of the experiment runner: the paper's protocol end to end, tiny."""

import csv
import json

from iteach_ros.experiments.run import main

SMOKE = ["--task", "reach_target", "--demos", "2", "--episodes", "3", "--eval-episodes", "2",
         "--warm-steps", "2", "--steps-per-episode", "1", "--batch-size", "2",
         "--sequence-length", "20", "--image-size", "32", "--max-steps", "40",
         "--progress-every", "3", "--progress-episodes", "1", "--quiet"]


def test_protocol_smoke_writes_csv_summary_and_plots(tmp_path):
    rc = main(SMOKE + ["--methods", "teacher,llm_iteach,bc", "--out", str(tmp_path),
                       "--run-name", "smoke"])
    assert rc == 0
    root = tmp_path / "smoke"
    summaries = {s["method"]: s for s in json.loads((root / "summary.json").read_text())}
    assert set(summaries) == {"teacher", "llm_iteach", "bc"}
    assert summaries["teacher"]["eval_success_rate"] == 1.0  # the reference program
    # BC trains as many gradient steps as LLM-iTeach did, on the same demonstrations
    assert summaries["bc"]["train_steps"] == summaries["llm_iteach"]["train_steps"] >= 2 + 3
    with open(root / "reach_target" / "llm_iteach" / "episodes.csv") as fh:
        rows = list(csv.DictReader(fh))
    phases = [r["phase"] for r in rows]
    assert phases.count("demo") >= 2 and phases.count("interactive") == 3
    assert phases.count("eval") == 2
    assert phases.count("progress") == 1  # the agent alone after 3 interactive episodes
    for r in rows:
        if r["phase"] == "interactive":
            rates = float(r["evaluative_rate"]) + float(r["corrective_rate"]) + float(
                r["none_rate"])
            assert abs(rates - 1.0) < 1e-9
    assert (root / "reach_target" / "llm_iteach" / "training.png").stat().st_size > 1000
    assert (root / "reach_target" / "llm_iteach" / "policy.pt").exists()
    assert "| reach_target | llm_iteach |" in (root / "summary.md").read_text()


def test_eval_seeds_are_shared_across_methods(tmp_path):
    main(SMOKE + ["--methods", "teacher,bc", "--bc-steps", "1", "--out", str(tmp_path),
                  "--run-name", "seeds"])
    seeds = {}
    for method in ("teacher", "bc"):
        with open(tmp_path / "seeds" / "reach_target" / method / "episodes.csv") as fh:
            seeds[method] = [r["seed"] for r in csv.DictReader(fh) if r["phase"] == "eval"]
    assert seeds["teacher"] == seeds["bc"] and len(seeds["bc"]) == 2


def test_the_protocol_through_the_graph_writes_the_same_records(tmp_path):
    """--transport graph: the interactive phase (with its progress checks) and the evaluation
    run through the four nodes over DDS; the outputs are the in-process run's."""
    import pytest

    pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")
    rc = main(SMOKE + ["--methods", "llm_iteach", "--transport", "graph", "--out",
                       str(tmp_path), "--run-name", "graph"])
    assert rc == 0
    out = tmp_path / "graph" / "reach_target" / "llm_iteach"
    with open(out / "episodes.csv") as fh:
        rows = list(csv.DictReader(fh))
    phases = [r["phase"] for r in rows]
    assert phases.count("demo") >= 2 and phases.count("interactive") == 3
    assert phases.count("progress") == 1 and phases.count("eval") == 2
    inter = [r for r in rows if r["phase"] == "interactive"]
    assert [r["seed"] for r in inter] == ["100000", "100001", "100002"]  # the runner's seeds
    assert [r["index"] for r in inter] == ["0", "1", "2"]
    # the pace: at least warm start + 1 step per stored episode before the next one
    assert [int(r["train_steps"]) >= 2 + 1 * (i + 1) for i, r in enumerate(inter)] == [True] * 3
    progress = next(r for r in rows if r["phase"] == "progress")
    assert (progress["seed"], progress["index"]) == ("800000", "3")
    assert [r["seed"] for r in rows if r["phase"] == "eval"] == ["900000", "900001"]
    for r in inter:
        rates = float(r["evaluative_rate"]) + float(r["corrective_rate"]) + float(r["none_rate"])
        assert abs(rates - 1.0) < 1e-9
    assert (out / "training.png").stat().st_size > 1000 and (out / "policy.pt").exists()
    stored = sorted(p.stem for p in (out / "graph" / "learner" / "trajectories").glob("*.npz"))
    # the demonstrations stay in the learner's buffer; progress checks are not stored
    assert stored[:2] == ["demo_000000", "demo_000001"] and len(stored) == 2 + 3
