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
