"""The CLI end to end: generate with the fake provider (stands in for a remote LLM) and the
real simulator, validate a file, list and show the cache."""

import json

import pytest

from iteach_ros.teacher.cli import _seeds, main

PLAN = '1. composer("move the gripper to the target")'
ACTION = ("```python\ngripper = get_object('gripper')\ntarget = get_object('target')\n"
          "move_gripper(target.position - gripper.position)\n```")
CHECK = ("```python\nif np.linalg.norm(target.position - gripper.position) < 0.02:\n"
         "    increment_current_step()\n```")


def test_seed_specs():
    assert _seeds("3") == [0, 1, 2] and _seeds("5:7") == [5, 6] and _seeds("4,9") == [4, 9]


def test_generate_validate_and_cache(tmp_path, capsys):
    cfg = tmp_path / "llm.yaml"
    cfg.write_text(json.dumps({"llm": {"provider": "fake",
                                       "fake_responses": [PLAN, ACTION, CHECK]}}))
    cache = tmp_path / "cache"
    out = tmp_path / "reach.py"
    rc = main(["generate", "--task", "reach_target", "--config", str(cfg), "--seeds", "3",
               "--cache-dir", str(cache), "--out", str(out), "--final-seeds", "3:5"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "try 1 (plan (greedy)): success 3/3" in text and "evaluation: 2/2 successes" in text
    assert "move_gripper(target.position - gripper.position)" in out.read_text()
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["model"] == "fake:fake-list-chat-model" and record["tries"] == 1
    assert record["evaluation"]["seeds"] == [3, 4]

    assert main(["validate", str(out), "--task", "reach_target", "--seeds", "2"]) == 0
    assert "reach_target: 2/2 successes" in capsys.readouterr().out

    assert main(["cache", "list", "--cache-dir", str(cache)]) == 0
    listing = capsys.readouterr().out
    assert "reach_target" in listing and "fake:fake-list-chat-model" in listing
    assert main(["cache", "show", "reach_target", "--cache-dir", str(cache)]) == 0
    assert '"prompt_hash"' in capsys.readouterr().out


def test_validate_rejects_hostile_file_and_noise_sweep(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n")
    assert main(["validate", str(bad), "--task", "reach_target", "--seeds", "1"]) == 1
    assert "rejected" in capsys.readouterr().out
    from iteach_ros.codepolicy.reference import load_reference

    ref = tmp_path / "ref.py"
    ref.write_text(load_reference("reach_target"))
    assert main(["validate", str(ref), "--task", "reach_target", "--seeds", "2",
                 "--noise", "0,0.05"]) == 0
    assert "noise_std=0.0500 m" in capsys.readouterr().out


def test_unknown_task(capsys):
    with pytest.raises(SystemExit):
        main(["generate"])
    assert main(["generate", "--task", "fly_to_moon", "--provider", "fake"]) == 2


def test_validate_max_steps_cuts_the_episodes(tmp_path, capsys):
    from iteach_ros.codepolicy.reference import load_reference

    ref = tmp_path / "ref.py"
    ref.write_text(load_reference("reach_target"))
    assert main(["validate", str(ref), "--task", "reach_target", "--seeds", "2",
                 "--max-steps", "5", "--json", "-v"]) == 0
    out = capsys.readouterr().out
    assert "reach_target: 0/2 successes" in out and "never finished step 1" in out
    assert '"steps": 5' in out
    with pytest.raises(SystemExit):
        main(["validate", str(ref), "--task", "reach_target", "--max-steps", "0"])
