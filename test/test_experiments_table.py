"""The paper-table command: intervals, the pushed evaluation, and a smoke run of the whole
command (cells in worker processes, BC matched to LLM-iTeach's steps, kept cells read back, a
task without a generated CodePolicy reported as n/a)."""

import json
import math
import shutil

import numpy as np
import pytest

from iteach_ros.experiments.config import ProtocolConfig
from iteach_ros.experiments.table import (
    README_BEGIN,
    README_END,
    Cell,
    interval,
    main,
    with_readme_table,
)
from iteach_ros.sim import make_env
from iteach_ros.sim.perturb import ArmPush


def test_interval_is_students_t_over_seeds_and_wilson_for_one():
    mean, lo, hi = interval([0.9, 0.8, 1.0], episodes=100)
    half = 4.303 * 0.1 / math.sqrt(3)
    assert mean == pytest.approx(0.9) and lo == pytest.approx(0.9 - half)
    assert hi == 1.0  # clipped to a rate
    mean, lo, hi = interval([0.5], episodes=100)
    assert (lo, hi) == (pytest.approx(0.404, abs=1e-3), pytest.approx(0.596, abs=1e-3))
    assert math.isnan(interval([], 100)[0])


def test_the_push_is_the_same_for_every_method_on_an_episode_and_moves_the_arm():
    env = ArmPush(make_env("reach_target", render_wrist=False), start=(3, 3), steps=4)
    try:
        env.reset(seed=11)
        first = (env.push_at, env.direction.copy())
        env.reset(seed=12)
        assert (env.push_at, tuple(env.direction)) != (first[0], tuple(first[1]))
        env.reset(seed=11)
        assert env.push_at == first[0] and np.allclose(env.direction, first[1])
        still = np.array([0.0, 0.0, 0.0, 1.0])
        for _ in range(3):
            env.step(still)
        before = env.tcp_position().copy()
        pushed = [env.step(still)[4]["pushed"] for _ in range(4)]
        moved = env.tcp_position() - before
        assert pushed == [True] * 4 and not env.step(still)[4]["pushed"]
        assert np.dot(moved[:2], env.direction[:2]) > 0.02  # ~4 cm along the push
        assert env.arm.gripper_commanded_open(env.data)  # the gripper stayed the policy's
    finally:
        env.close()


def test_a_perturbed_evaluation_through_the_graph_is_refused():
    with pytest.raises(ValueError, match="one process"):
        ProtocolConfig(transport="graph", perturbed_eval=True)


def test_the_table_command_end_to_end_on_a_tiny_protocol(tmp_path, capsys):
    out = tmp_path / "table"
    tiny = ["--seeds", "1", "--demos", "1", "--episodes", "2", "--eval-episodes", "2",
            "--warm-steps", "1", "--max-steps", "15", "--image-size", "32", "--jobs", "2"]
    argv = ["--task", "reach_target", "--methods", "teacher,llm_iteach,bc", *tiny,
            "--out", str(out)]
    assert main(argv) == 0
    text = (out / "table.md").read_text()
    assert "| reach_target |" in text and "with a push of the arm" in text
    # a teacher that cannot be had: said, not replaced by another teacher
    missing = tmp_path / "no_such_policy.py"
    assert main(["--task", "reach_target", "--methods", "teacher,bc", "--teacher",
                 str(missing), *tiny, "--out", str(tmp_path / "missing")]) == 0
    text_missing = (tmp_path / "missing" / "table.md").read_text()
    assert "| reach_target | n/a | n/a |" in text_missing and str(missing) in text_missing
    iteach = json.loads((out / Cell("reach_target", "llm_iteach", 0).folder / "summary.json")
                        .read_text())
    bc = json.loads((out / Cell("reach_target", "bc", 0).folder / "config.json").read_text())
    assert bc["bc_steps"] == iteach["train_steps"] > 0  # BC gets LLM-iTeach's step count
    summary = json.loads((out / Cell("reach_target", "teacher", 0).folder / "summary.json")
                         .read_text())
    assert not math.isnan(summary["perturbed_success_rate"])
    assert (out / "reach_target.png").stat().st_size > 0
    capsys.readouterr()
    assert main(argv) == 0  # kept cells are read back, not run again
    printed = capsys.readouterr().out
    assert "3 cells already in" in printed
    assert "0 cells run in" in printed and "3 read back from an earlier run" in printed
    # a cell without results (an interrupted table) is shown as not run, and nothing runs
    shutil.rmtree(out / Cell("reach_target", "bc", 0).folder)
    assert main([*argv, "--render-only"]) == 0
    text = (out / "table.md").read_text()
    assert "reach_target/bc: not run yet" in text and "0 cells run in" in text
    assert "2 read back" in text
    assert not (out / Cell("reach_target", "bc", 0).folder).exists()


def test_the_readme_block_is_replaced_by_the_run_and_a_readme_without_one_is_an_error():
    readme = f"# x\n\nbefore\n{README_BEGIN}\nold table\n{README_END}\nafter\n"
    table = ("### Held-out evaluation (nominal)\n\n| task | BC |\n|---|---|\n"
             "| push_button | 80 % |\n")
    new = with_readme_table(readme, "python -m iteach_ros.experiments.table", table,
                            ["push_button"], 0.5, 1.5)
    assert "old table" not in new and new.startswith("# x\n\nbefore\n") and new.endswith("after\n")
    assert "#### Held-out evaluation (nominal)" in new  # under the README's own heading
    assert "| push_button | 80 % |" in new and "load average 0.5 at the start and 1.5" in new
    assert "(results/paper_table/push_button.png)" in new
    with pytest.raises(ValueError, match="README.md has no"):
        with_readme_table("# no block\n", "cmd", table, ["push_button"], 0, 0)
    from iteach_ros.readme_blocks import README

    assert README_BEGIN in README.read_text() and README_END in README.read_text()
