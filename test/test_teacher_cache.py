"""Policy cache: save with provenance, list, best, tamper detection."""

import json

import pytest

from iteach_ros.teacher.cache import PolicyCache, default_cache_root


def prov(rate, accepted=True):
    return {"model": "fake:test", "prompt_hash": "ab" * 32, "accepted": accepted,
            "validation": {"success_rate": rate, "seeds": [0, 1]}}


def test_save_list_best(tmp_path):
    cache = PolicyCache(tmp_path)
    a = cache.save("push_button", "x = 1\n", prov(0.6))
    b = cache.save("push_button", "x = 2\n", prov(0.9))
    cache.save("push_button", "x = 3\n", prov(1.0, accepted=False))
    cache.save("reach_target", "x = 4\n", prov(1.0))
    assert a.path.suffix == ".py" and a.path.with_suffix(".json").is_file()
    record = json.loads(a.path.with_suffix(".json").read_text())
    assert record["task"] == "push_button" and len(record["source_sha256"]) == 64
    assert record["model"] == "fake:test" and record["validation"]["seeds"] == [0, 1]
    assert len(cache.entries()) == 4 and len(cache.entries("push_button")) == 3
    assert cache.best("push_button").source == b.source
    assert cache.best("push_button", accepted_only=False).source == "x = 3\n"
    assert cache.best("close_microwave") is None


def test_edited_source_is_not_served(tmp_path):
    cache = PolicyCache(tmp_path)
    entry = cache.save("push_button", "x = 1\n", prov(1.0))
    entry.path.write_text("import os\n")
    assert cache.entries("push_button") == [] and cache.best("push_button") is None


def test_task_names_cannot_escape_the_root(tmp_path):
    with pytest.raises(ValueError, match="invalid task"):
        PolicyCache(tmp_path).save("../evil", "x = 1\n", prov(1.0))


def test_default_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ITEACH_POLICY_CACHE", str(tmp_path / "p"))
    assert default_cache_root() == tmp_path / "p"
    monkeypatch.delenv("ITEACH_POLICY_CACHE")
    monkeypatch.setenv("ITEACH_CACHE", str(tmp_path))
    assert default_cache_root() == tmp_path / "policies"
