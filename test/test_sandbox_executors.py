"""Executor semantics, the same for every executor: the contract (runtime.CodePolicyExecutor),
FastExecutor, the in-process SandboxedPolicy, the sandbox worker (WorkerPolicy) and the worker
under its earlier name and keywords (IsolatedPolicy)."""

import functools

import numpy as np
import pytest

from iteach_ros.codepolicy.fastexec import FastExecutor
from iteach_ros.codepolicy.isolated import IsolatedPolicy
from iteach_ros.codepolicy.runtime import CodePolicyError, CodePolicyExecutor, ObjectState
from iteach_ros.codepolicy.sandbox import SandboxedPolicy, SandboxError, WorkerPolicy

NAMES = ["button"]
EXECUTORS = ["contract", "fast", "sandboxed", "worker", "isolated"]


@pytest.fixture(params=EXECUTORS)
def make(request):
    made = []

    def make(src, names=NAMES):
        ex = {"contract": lambda: CodePolicyExecutor(src), "fast": lambda: FastExecutor(src),
              "sandboxed": lambda: SandboxedPolicy(src, names),
              "worker": lambda: WorkerPolicy(src, names),
              "isolated": lambda: IsolatedPolicy(src, names)}[request.param]()
        made.append(ex)
        return ex

    make.kind = request.param
    yield make
    for ex in made:
        if hasattr(ex, "close"):
            ex.close()


def scene(gripper=(0.3, 0.0, 0.5), button=(0.5, 0.1, 0.1), closed=False):
    return {"gripper": ObjectState("gripper", np.array(gripper, float), closed=closed),
            "button": ObjectState("button", np.array(button, float),
                                  normal=np.array([0.0, 0.0, 1.0]))}


def test_initial_positions_refresh_when_the_step_changes(make):
    ex = make("""
b = get_object('button')
if current_step == 1:
    increment_current_step()
elif current_step == 2:
    move_gripper(b.initial_position - b.position)
""")
    assert ex.step(scene(button=(0.5, 0.1, 0.1))).current_step == 2
    # initial_position was refreshed at the step change, with the button at z = 0.1
    drifted = ex.step(scene(button=(0.5, 0.1, 0.3)))
    np.testing.assert_allclose(drifted.action[:3], [0.0, 0.0, -0.9])
    ex.reset()  # a new episode starts at step 1 and reads the positions again
    assert ex.step(scene(button=(0.5, 0.1, 0.3))).current_step == 2
    np.testing.assert_allclose(ex.step(scene(button=(0.5, 0.1, 0.1))).action[:3],
                               [0.0, 0.0, 0.9])  # initial z = 0.3 now


def test_done_is_sticky_and_reset_forgets_it(make):
    ex = make("if current_step == 1:\n    set_done()\n    increment_current_step()")
    assert ex.step(scene()).done
    assert ex.step(scene()).done and ex.current_step == 2
    ex.reset()
    assert ex.current_step == 1


def test_gripper_request_persists_until_changed(make):
    ex = make("if current_step == 1:\n    set_gripper(False)\n    increment_current_step()")
    assert ex.step(scene(closed=False)).action[3] == -0.9
    assert ex.step(scene(closed=False)).action[3] == -0.9  # fingers still closing: keep closed
    ex.reset()
    assert ex.step(scene(closed=True)).action[3] == -0.9
    assert make("pass").step(scene(closed=False)).action[3] == 0.9  # no request: the state


def test_translation_reduction_and_gripper_state(make):
    src = ("move_gripper([1, -0.005, -0.02])\nset_gripper(is_gripper_open())\n"
           "increment_current_step()")
    step = make(src).step(scene(closed=True))
    np.testing.assert_array_equal(step.action, [0.9, 0.0, -0.9, -0.9])
    assert step.current_step == 2


def test_default_pose_is_served_when_named_even_inside_functions(make):
    ex = make("def home():\n    return gripper_default_position - get_object('gripper').position\n"
              "move_gripper(home())")
    np.testing.assert_allclose(ex.step(scene()).action[:3], [0.0, 0.0, -0.9])


def test_object_views_are_snapshots(make):
    ex = make("""
b = get_object('button')
b.position[0] = 9.0
b2 = get_object('button')
n = b2.normal
n[2] = 5.0
if (b2.position[0] != 9.0 and get_object('button').normal[2] == 1.0
        and b.initial_position[0] == 0.5 and str(b2).startswith("<object 'button'")):
    move_gripper([0.05, 0.0, 0.0])
""")
    assert ex.step(scene()).action[0] == pytest.approx(0.9)


@pytest.mark.parametrize("src, needle", [
    ("get_object(3)", "name string"),
    ("get_object('to' + 'aster')", "no such object"),
    ("move_gripper([1.0, 2.0])", "finite 3-vector"),
    ("move_gripper([np.nan, 0, 0])", "finite 3-vector"),
])
def test_api_misuse_is_a_clear_error(make, src, needle):
    ex = make(src)
    error = CodePolicyError if make.kind in ("contract", "fast") else SandboxError
    with pytest.raises(error, match=needle) as info:
        ex.step(scene())
    if error is SandboxError:
        assert info.value.kind == "api"
    assert ex.current_step == 1


@functools.cache
def reference_states(task, seed=0):
    from iteach_ros.codepolicy.reference import load_reference
    from iteach_ros.sim import make_env

    env = make_env(task, seed=seed, render_wrist=False)
    ex = CodePolicyExecutor(load_reference(task))
    obs, _ = env.reset(seed=seed)
    states = [obs.objects]
    for _ in range(300):
        obs, _, term, trunc, _info = env.step(ex.step(obs.objects).action)
        states.append(obs.objects)
        if term or trunc:
            break
    env.close()
    return states


@pytest.mark.parametrize("task", ["push_button", "pick_and_lift", "close_microwave"])
def test_every_executor_matches_the_contract_on_recorded_episodes(make, task):
    from iteach_ros.codepolicy.reference import load_reference

    src = load_reference(task)
    ref, ex = CodePolicyExecutor(src), make(src, names=None)
    for objs in reference_states(task):
        a, b = ref.step(objs), ex.step(objs)
        np.testing.assert_array_equal(a.action, b.action)
        assert (a.current_step, a.done) == (b.current_step, b.done)
    assert ref.current_step > 1  # the episode went through the state machine
