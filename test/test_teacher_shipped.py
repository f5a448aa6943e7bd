"""The CodePolicies shipped with the package are accepted LLM output, so the project teaches with
LLM-written programs without the offline model installed."""

import hashlib

import pytest

from iteach_ros.codepolicy.sandbox import WorkerPolicy
from iteach_ros.sim import TASKS, make_env
from iteach_ros.teacher.cache import PolicyCache
from iteach_ros.teacher.llm import LLMConfig
from iteach_ros.teacher.service import (
    SHIPPED_POLICIES,
    find_cached_policy,
    make_teacher,
)


def test_shipped_policies_are_accepted_llm_output_with_provenance():
    entries = PolicyCache(SHIPPED_POLICIES).entries()
    assert {e.task for e in entries} >= set(TASKS)  # every task: results/teacher_generation.md
    for e in entries:
        # written by the default offline model, the one a user's `generate` would run
        assert e.accepted and e.provenance["model"] == LLMConfig().label
        assert hashlib.sha256(e.source.encode()).hexdigest() == e.provenance["source_sha256"]
        assert not e.provenance["holdout_examples"]
        assert e.provenance["evaluation"]["success_rate"] >= 0.9  # 50 held-out seeds
        assert len(e.provenance["prompt_hash"]) == 64 and e.provenance["grammar"]


@pytest.mark.parametrize("task", sorted(TASKS))
def test_auto_teacher_is_the_shipped_policy_and_solves_a_held_out_seed(task, monkeypatch,
                                                                       tmp_path):
    monkeypatch.setenv("ITEACH_POLICY_CACHE", str(tmp_path / "empty"))
    entry = find_cached_policy(task)
    assert entry is not None and SHIPPED_POLICIES in entry.path.parents
    teacher = make_teacher(task)  # the default source: auto
    try:
        assert isinstance(teacher, WorkerPolicy)  # generated code runs in a sandbox worker
        env = make_env(task, render_wrist=False)
        obs, info = env.reset(seed=4242)
        teacher.reset()
        while True:
            obs, _, terminated, truncated, info = env.step(teacher.step(obs.objects).action)
            if terminated or truncated:
                break
        env.close()
    finally:
        teacher.close()
    assert info["success"]
