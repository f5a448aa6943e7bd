"""The generation benchmark's table: what each row says about a measured record."""

from iteach_ros.teacher.benchmark import meets_target, table


def record(**kw):
    base = {"task": "unplug_charger", "model": "m", "mode": "normal", "accepted": True,
            "tries": 8, "llm_calls": 51, "generation_s": 182.0, "load_avg_before": [0.5, 0, 0],
            "load_avg_after": [1.2, 0, 0], "commit": "abc",
            "validation": {"successes": 9, "episodes": 10},
            "evaluation": {"successes": 24, "episodes": 50}}
    base.update(kw)
    return base


def test_a_row_shows_the_validation_and_the_held_out_result():
    rec = record()
    row = [line for line in table({"k": rec}).splitlines() if line.startswith("| unplug")][0]
    assert "| yes | 9/10 | 24/50 | 8 | 51 | 3.0 | 0.5 / 1.2 | abc |" in row
    # Accepted in validation but 48 % held out: not counted as meeting the target.
    assert not meets_target(rec)
    assert meets_target(record(evaluation={"successes": 46, "episodes": 50}))
    assert not meets_target(record(evaluation={"successes": 50, "episodes": 50},
                                   generation_s=601.0))
    assert "0 of 1" in table({"k": rec})


def test_the_readme_block_is_the_summary_per_model_and_mode():
    import pytest

    from iteach_ros.teacher.benchmark import SUMMARY_BEGIN, TABLE_END, with_readme_summary

    recs = {"a": record(evaluation={"successes": 50, "episodes": 50}),
            "b": record(task="push_button", mode="holdout", commit="def")}
    text = f"intro\n{SUMMARY_BEGIN}\nstale row\n{TABLE_END}\nrest\n"
    out = with_readme_summary(text, recs)
    assert out.startswith("intro\n") and out.endswith("rest\n") and "stale row" not in out
    assert "| m | normal | 1 of 1 (unplug_charger); commit abc |" in out
    assert "| m | holdout | 0 of 1; commit def |" in out
    assert "| task |" not in out  # the per-task rows stay in docs/results.md
    with pytest.raises(ValueError, match="README.md has no"):
        with_readme_summary("no block here", recs)
