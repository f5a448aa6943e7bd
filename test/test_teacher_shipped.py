"""Generated CodePolicies shipped with the package: the project runs without the offline LLM."""

import hashlib

from iteach_ros.codepolicy.sandbox import SandboxedPolicy
from iteach_ros.codepolicy.teachers import SHIPPED_POLICIES, find_cached_policy, make_teacher
from iteach_ros.sim import make_env
from iteach_ros.teacher.cache import PolicyCache


def test_shipped_policies_are_accepted_llm_output_with_provenance():
    entries = PolicyCache(SHIPPED_POLICIES).entries()
    assert {e.task for e in entries} >= {"push_button", "reach_target"}
    for e in entries:
        assert e.accepted and e.provenance["model"].startswith("offline:")
        assert hashlib.sha256(e.source.encode()).hexdigest() == e.provenance["source_sha256"]


def test_cache_teacher_falls_back_to_the_shipped_policy_and_solves_the_task(monkeypatch,
                                                                             tmp_path):
    monkeypatch.setenv("ITEACH_POLICY_CACHE", str(tmp_path / "empty"))
    entry = find_cached_policy("push_button")
    assert entry is not None and SHIPPED_POLICIES in entry.path.parents
    teacher = make_teacher("push_button", "cache")
    assert isinstance(teacher, SandboxedPolicy)  # generated code always runs sandboxed
    env = make_env("push_button", render_wrist=False)
    obs, info = env.reset(seed=123)
    while True:
        obs, _, terminated, truncated, info = env.step(teacher.step(obs.objects).action)
        if terminated or truncated:
            break
    env.close()
    assert info["success"]
