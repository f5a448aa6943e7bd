"""The hostile corpus (test/hostile/*.txt): every program is refused or stopped with a clear
error, within its time limit, and the process keeps serving a good policy afterwards."""

import time
from pathlib import Path

import numpy as np
import pytest

from iteach_ros.codepolicy.runtime import ObjectState
from iteach_ros.codepolicy.sandbox import SandboxedPolicy, SandboxError, SandboxLimits

CORPUS = sorted((Path(__file__).parent / "hostile").glob("*.txt"))
GOOD = """
gripper = get_object('gripper')
button = get_object('button')
move_gripper(button.position - gripper.position)
"""
LIMITS = SandboxLimits(time_limit_s=0.05)


def objects():
    return {"gripper": ObjectState("gripper", np.array([0.3, 0.0, 0.5])),
            "button": ObjectState("button", np.array([0.5, 0.1, 0.1]))}


def expected_kinds(path: Path) -> set[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must say '# expect: ...'"
    return set(first.removeprefix("# expect: ").split("|"))


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 30
    kinds = set().union(*(expected_kinds(p) for p in CORPUS))
    assert {"validation", "syntax", "timeout", "memory", "limit", "api", "runtime"} <= kinds


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_hostile_program_is_refused_or_stopped(path):
    source = path.read_text()
    kinds = expected_kinds(path)
    t0 = time.perf_counter()
    with pytest.raises(SandboxError) as info:
        policy = SandboxedPolicy(source, object_names=["button"], limits=LIMITS)
        policy.step(objects())
    elapsed = time.perf_counter() - t0
    err = info.value
    assert err.kind in kinds, f"{path.name}: got {err.kind}: {err.message}"
    assert err.message and len(err.message) > 10  # a clear message, not an empty error
    # Stopped within its limit: 50 ms CPU plus one bounded operation; generous for a busy CI.
    assert elapsed < 1.5, f"{path.name} took {elapsed:.2f} s"
    # The process keeps serving.
    step = SandboxedPolicy(GOOD, ["button"], LIMITS).step(objects())
    np.testing.assert_allclose(step.action[:3], [0.9, 0.9, -0.9])


def test_stopped_policy_stays_usable_and_state_is_kept():
    src = """
if current_step == 1:
    increment_current_step()
elif current_step == 2:
    if get_object('button').position[2] > 1.0:
        while True:
            pass
    move_gripper([0.0, 0.0, 0.05])
"""
    policy = SandboxedPolicy(src, ["button"], LIMITS)
    policy.step(objects())
    assert policy.current_step == 2
    hot = objects()
    hot["button"] = ObjectState("button", np.array([0.5, 0.1, 2.0]))
    with pytest.raises(SandboxError) as info:
        policy.step(hot)
    assert info.value.kind in {"timeout", "limit"}
    assert policy.current_step == 2
    out = policy.try_step(objects())
    assert out.ok and out.step.action[2] == pytest.approx(0.9)
    bad = policy.try_step(hot)
    assert not bad.ok and bad.step is None and bad.error.kind in {"timeout", "limit"}


def test_validation_message_names_line_and_suggestion():
    with pytest.raises(SandboxError) as info:
        SandboxedPolicy("x = 1\nmove_griper([0, 0, 1])\n", ["button"])
    err = info.value
    assert err.kind == "validation" and err.lineno == 2
    assert "move_gripper" in err.message  # did-you-mean hint
