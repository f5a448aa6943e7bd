"""IsolatedPolicy: the sandbox in a worker process with a hard address-space cap."""

import numpy as np
import pytest

from iteach_ros.codepolicy.isolated import IsolatedPolicy
from iteach_ros.codepolicy.runtime import ObjectState
from iteach_ros.codepolicy.sandbox import SandboxError, SandboxLimits

SRC = """
if current_step == 1:
    move_gripper([0.0, 0.0, 0.05])
    increment_current_step()
elif current_step == 2:
    move_gripper(get_object('button').position - get_object('gripper').position)
"""
# Guards switched off (huge caps) to show the kernel limit and the wall-clock timeout alone.
LOOSE = SandboxLimits(max_elements=10**12, max_ticks=10**12, time_limit_s=1000.0,
                      memory_limit_bytes=1 << 40)


def objects():
    return {"gripper": ObjectState("gripper", np.array([0.3, 0.0, 0.5])),
            "button": ObjectState("button", np.array([0.5, 0.1, 0.1]))}


@pytest.fixture
def iso():
    policies = []

    def make(*args, **kwargs):
        policies.append(IsolatedPolicy(*args, **kwargs))
        return policies[-1]

    yield make
    for p in policies:
        p.close()


def test_steps_like_the_in_process_sandbox(iso):
    pol = iso(SRC, ["button"])
    first = pol.step(objects())
    assert first.current_step == 2 and first.action[2] == pytest.approx(0.9)
    np.testing.assert_allclose(pol.step(objects()).action[:3], [0.9, 0.9, -0.9])
    pol.reset()
    assert pol.step(objects()).current_step == 2


def test_rejected_source_raises_at_construction(iso):
    with pytest.raises(SandboxError) as info:
        iso("import os", ["button"])
    assert info.value.kind == "validation"


def test_address_space_cap_stops_unguarded_allocation(iso):
    src = SRC.replace("increment_current_step()", "x = [0] * 10**9\n    increment_current_step()")
    pol = iso(src, ["button"], LOOSE, address_space_bytes=1 << 30)
    with pytest.raises(SandboxError) as info:
        pol.step(objects())
    assert info.value.kind == "memory"
    assert pol.current_step == 1  # the failed step did not advance


def test_wall_timeout_replaces_worker_and_resumes(iso):
    src = """
if current_step == 1:
    increment_current_step()
elif current_step == 2 and get_object('button').position[2] > 1.0:
    while True:
        pass
else:
    move_gripper([0.0, 0.05, 0.0])
"""
    pol = iso(src, ["button"], LOOSE, wall_timeout_s=0.5)
    pol.step(objects())
    hot = objects()
    hot["button"] = ObjectState("button", np.array([0.5, 0.1, 2.0]))
    with pytest.raises(SandboxError) as info:
        pol.step(hot)
    assert info.value.kind == "timeout" and pol.restarts == 1
    step = pol.step(objects())  # fresh worker, same current_step
    assert step.current_step == 2 and step.action[1] == pytest.approx(0.9)
