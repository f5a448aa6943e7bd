"""Which CodePolicy teaches (iteach_ros.teacher.service): every source, one module for the
runner, the CLI and the teacher node. Generation uses langchain's FakeListChatModel standing in
for a remote LLM, validated in the real simulator."""

import json

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from iteach_ros.codepolicy.runtime import CodePolicyExecutor, ObjectState
from iteach_ros.codepolicy.sandbox import SandboxedPolicy, WorkerPolicy
from iteach_ros.teacher import service
from iteach_ros.teacher.cache import PolicyCache
from iteach_ros.teacher.generator import GenerationConfig
from iteach_ros.teacher.service import (
    SHIPPED_POLICIES,
    find_cached_policy,
    generate_policy,
    make_teacher,
    obtain_policy,
)

PLAN = '1. composer("move to the target")'
ACTION = ("```python\ngripper = get_object('gripper')\ntarget = get_object('target')\n"
          "move_gripper(target.position - gripper.position)\n```")
CHECK = ("```python\nif np.linalg.norm(target.position - gripper.position) < 0.02:\n"
         "    increment_current_step()\n```")
BAD = "```python\nmove_gripper(np.array([0.0, 0.0, 0.0]))\n```"
FAST = GenerationConfig(seeds=(0, 1), screen_seeds=2, max_tries=1)


@pytest.fixture
def empty_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ITEACH_POLICY_CACHE", str(tmp_path / "user"))
    return PolicyCache(tmp_path / "user")


def _objects():
    return {"gripper": ObjectState("gripper", np.array([0.3, 0.0, 0.4])),
            "target": ObjectState("target", np.array([0.5, 0.1, 0.2]))}


def test_generate_caches_then_serves_from_the_cache(empty_user_cache):
    cache = empty_user_cache
    model = FakeListChatModel(responses=[PLAN, ACTION, CHECK])
    got = obtain_policy("reach_target", "generate", cache=cache, chat_model=model,
                        generation=FAST)
    assert got.origin == "generated" and got.provenance["accepted"] and got.llm_written
    assert got.path is not None and got.path.parent.parent == cache.root
    assert len(cache.entries("reach_target")) == 1
    again = obtain_policy("reach_target", "generate", cache=cache)  # no model needed now
    assert again.origin == "cache" and again.source == got.source
    with again.executor() as worker:  # generated code: a sandbox worker by default
        assert isinstance(worker, WorkerPolicy)
        assert worker.step(_objects()).action.shape == (4,)
    in_process = again.executor(sandbox="in_process")
    assert isinstance(in_process, SandboxedPolicy)
    assert in_process.step(_objects()).action.shape == (4,)
    # 'auto' and 'cache' prefer the user's cache to the shipped programs
    assert obtain_policy("reach_target", "auto", cache=cache).origin == "cache"
    assert obtain_policy("reach_target", "cache", cache=cache).source == got.source


def test_unaccepted_generation_is_an_error_unless_asked_for(empty_user_cache):
    cache = empty_user_cache
    with pytest.raises(LookupError, match="no generated CodePolicy was accepted"):
        obtain_policy("reach_target", "generate", cache=cache, generation=FAST,
                      chat_model=FakeListChatModel(responses=[PLAN, BAD, CHECK]))
    assert cache.entries() == []
    got = obtain_policy("reach_target", "generate", cache=cache, generation=FAST,
                        accept_unvalidated=True,
                        chat_model=FakeListChatModel(responses=[PLAN, BAD, CHECK]))
    assert got.origin == "generated-unaccepted" and not got.provenance["accepted"]
    assert cache.entries() == []


def test_auto_falls_back_to_shipped_then_reference(empty_user_cache, monkeypatch, tmp_path):
    shipped = find_cached_policy("push_button", empty_user_cache)
    assert shipped is not None and SHIPPED_POLICIES in shipped.path.parents
    got = obtain_policy("push_button", "auto", cache=empty_user_cache)
    assert got.origin == "shipped" and got.provenance["accepted"]
    assert got.provenance["model"].startswith("offline:")
    # no shipped program: the reference (trusted, not sandboxed), and 'cache' is an error
    monkeypatch.setattr(service, "SHIPPED_POLICIES", tmp_path / "none")
    ref = obtain_policy("push_button", "auto", cache=empty_user_cache)
    assert ref.origin == "reference" and not ref.llm_written
    assert isinstance(ref.executor(), CodePolicyExecutor)
    with pytest.raises(LookupError, match="no accepted CodePolicy"):
        obtain_policy("push_button", "cache", cache=empty_user_cache)


def test_a_file_source_and_bad_sources(tmp_path, empty_user_cache):
    path = tmp_path / "p.py"
    path.write_text("move_gripper(get_object('target').position - "
                    "get_object('gripper').position)\n")
    teacher = make_teacher("reach_target", str(path))
    assert isinstance(teacher, WorkerPolicy) and teacher.source == path.read_text()
    teacher.close()
    with pytest.raises(FileNotFoundError, match="not one of"):
        obtain_policy("reach_target", str(tmp_path / "missing.py"))
    with pytest.raises(KeyError, match="unknown task"):
        obtain_policy("fly_to_moon", "reference")


def test_generate_policy_reports_and_saves_rejected_on_request(tmp_path):
    cache = PolicyCache(tmp_path)
    lines = []
    result, prov, entry = generate_policy(
        "reach_target", cache=cache, generation=FAST, save_rejected=True, progress=lines.append,
        chat_model=FakeListChatModel(responses=[PLAN, BAD, CHECK]))
    assert not result.accepted and entry is not None and not entry.accepted
    assert prov["llm_config"]["provider"] == "offline"  # the configured default, recorded
    assert json.loads(entry.path.with_suffix(".json").read_text())["search"][0]["try"] == 1
    assert any("programs validated" in line for line in lines)
    # not accepted: 'auto' and 'cache' do not serve it
    assert cache.best("reach_target") is None
