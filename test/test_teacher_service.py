"""obtain_policy: cache first, then generation (fake chat model standing in for a remote LLM,
real simulator), then the reference program."""

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from iteach_ros.teacher.cache import PolicyCache
from iteach_ros.teacher.generator import GenerationConfig
from iteach_ros.teacher.service import obtain_policy

PLAN = '1. composer("move the gripper to the target")'
ACTION = ("```python\ngripper = get_object('gripper')\ntarget = get_object('target')\n"
          "move_gripper(target.position - gripper.position)\n```")
CHECK = ("```python\nif np.linalg.norm(target.position - gripper.position) < 0.02:\n"
         "    increment_current_step()\n```")
BAD = "```python\nmove_gripper([0.0, 0.0, 0.0])\n```"
FAST = GenerationConfig(seeds=(0, 1), max_tries=1)


def test_generates_caches_then_serves_from_cache(tmp_path):
    cache = PolicyCache(tmp_path)
    model = FakeListChatModel(responses=[PLAN, ACTION, CHECK])
    got = obtain_policy("reach_target", cache=cache, chat_model=model, generation=FAST)
    assert got.origin == "generated" and got.provenance["accepted"]
    assert len(cache.entries("reach_target")) == 1
    again = obtain_policy("reach_target", cache=cache, generate=False)
    assert again.origin == "cache" and again.source == got.source
    step = again.sandboxed().step(_objects())
    assert step.action.shape == (4,)


def test_unaccepted_generation_falls_back_to_reference(tmp_path):
    cache = PolicyCache(tmp_path)
    model = FakeListChatModel(responses=[PLAN, BAD, CHECK])
    got = obtain_policy("reach_target", cache=cache, chat_model=model, generation=FAST)
    assert got.origin == "reference" and cache.entries() == []
    model = FakeListChatModel(responses=[PLAN, BAD, CHECK])
    got = obtain_policy("reach_target", cache=cache, chat_model=model, generation=FAST,
                        accept_unvalidated=True)
    assert got.origin == "generated-unaccepted" and not got.provenance["accepted"]
    with pytest.raises(LookupError, match="no CodePolicy"):
        obtain_policy("reach_target", cache=cache, generate=False, fallback_to_reference=False)


def _objects():
    import numpy as np

    from iteach_ros.codepolicy.runtime import ObjectState

    return {"gripper": ObjectState("gripper", np.array([0.3, 0.0, 0.4])),
            "target": ObjectState("target", np.array([0.5, 0.1, 0.2]))}
