"""The hostile corpus (test/hostile/*.txt): every program is refused or stopped with a clear
error, within its time limit and without growing memory, and the process keeps serving a good
policy afterwards. Programs marked ``# worker-only`` (they crash or hang any process that runs
them: a C-level recursion or a single unbounded C call) run only in the worker process, as
untrusted programs do by default; every other program runs both in process and in the worker."""

import resource
import time
from pathlib import Path

import numpy as np
import pytest

from iteach_ros.codepolicy.sandbox import (
    SandboxedPolicy,
    SandboxError,
    SandboxLimits,
    WorkerLimits,
    WorkerPolicy,
)
from iteach_ros.core.state import ObjectState

CORPUS = sorted((Path(__file__).parent / "hostile").glob("*.txt"),
                key=lambda p: int(p.name.split("_")[0]))
GOOD = """
gripper = get_object('gripper')
button = get_object('button')
move_gripper(button.position - gripper.position)
"""
LIMITS = SandboxLimits(time_limit_s=0.05)
CPU_LIMIT_S = 1.5  # 50 ms CPU plus one bounded operation (this thread's CPU time: load-free)
WALL_LIMIT_S = 4 * CPU_LIMIT_S  # nothing blocks: on a busy 2-core machine wall is a few x CPU
GROWTH_LIMIT_MB = 200  # peak resident memory a refused program may add


def objects():
    return {"gripper": ObjectState("gripper", np.array([0.3, 0.0, 0.5])),
            "button": ObjectState("button", np.array([0.5, 0.1, 0.1]))}


def expected_kinds(path: Path) -> set[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must say '# expect: ...'"
    return set(first.removeprefix("# expect: ").split("|"))


def worker_only(path: Path) -> bool:
    lines = path.read_text().splitlines()
    return len(lines) > 1 and lines[1].startswith("# worker-only:")


IN_PROCESS = [p for p in CORPUS if not worker_only(p)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 100
    kinds = set().union(*(expected_kinds(p) for p in CORPUS))
    assert {"validation", "syntax", "timeout", "memory", "limit", "api", "runtime",
            "crash"} <= kinds
    numbers = [int(p.name.split("_")[0]) for p in CORPUS]
    assert len(set(numbers)) == len(numbers), "two programs share a number"


@pytest.mark.parametrize("path", IN_PROCESS, ids=lambda p: p.stem)
def test_hostile_program_is_refused_or_stopped(path):
    source = path.read_text()
    kinds = expected_kinds(path)
    peak0 = peak_rss_mb()
    t0, cpu0 = time.perf_counter(), time.thread_time()
    with pytest.raises(SandboxError) as info:
        policy = SandboxedPolicy(source, object_names=["button"], limits=LIMITS)
        policy.step(objects())
    elapsed, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
    err = info.value
    assert err.kind in kinds, f"{path.name}: got {err.kind}: {err.message}"
    assert err.message and len(err.message) > 10  # a clear message, not an empty error
    assert cpu < CPU_LIMIT_S, f"{path.name} took {cpu:.2f} s of CPU"
    assert elapsed < WALL_LIMIT_S, f"{path.name} took {elapsed:.2f} s"
    assert peak_rss_mb() - peak0 < GROWTH_LIMIT_MB, f"{path.name} grew memory"
    # The process keeps serving.
    step = SandboxedPolicy(GOOD, ["button"], LIMITS).step(objects())
    np.testing.assert_allclose(step.action[:3], [0.9, 0.9, -0.9])


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_hostile_program_is_stopped_in_the_worker(path):
    """The whole corpus through the worker, as untrusted programs run by default: stopped
    within the worker's wall limit, one SandboxError type, the caller unharmed."""
    source = path.read_text()
    kinds = expected_kinds(path)
    wall = WorkerLimits().step_wall_s
    policy, elapsed = None, 0.0
    try:
        with pytest.raises(SandboxError) as info:
            policy = WorkerPolicy(source, ["button"], LIMITS)
            t0 = time.perf_counter()
            try:
                policy.step(objects())
            finally:
                elapsed = time.perf_counter() - t0
        assert elapsed < wall + 1.0, f"{path.name} took {elapsed:.2f} s"
        err = info.value
        assert err.kind in kinds, f"{path.name}: got {err.kind}: {err.message}"
        assert err.message and len(err.message) > 10
        if policy is not None:  # the next episode runs in a (fresh, if it died) worker
            policy.reset()
            assert policy.failure is None
    finally:
        if policy is not None:
            policy.close()


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
