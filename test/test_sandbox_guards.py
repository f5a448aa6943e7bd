"""The guards change no result of an ordinary program (differential test against plain Python
and numpy), refuse what they should with a clear message, and every entry point raises one
exception type for bad input."""

import time

import numpy as np
import pytest

from iteach_ros.codepolicy.sandbox import (
    SandboxedPolicy,
    SandboxError,
    SandboxLimits,
    validate_source,
)
from iteach_ros.core.state import ObjectState


def objects():
    return {"gripper": ObjectState("gripper", np.array([0.3, 0.0, 0.5])),
            "button": ObjectState("button", np.array([0.5, 0.1, 0.1]))}


def sandboxed_result(src: str):
    """The value of ``r`` after running ``src`` in the sandbox's namespace."""
    policy = SandboxedPolicy(src, ["button"])
    ns = policy.executor.begin(objects())
    policy._guards.start()
    exec(policy.compiled.code, ns)  # noqa: S102 - validated and instrumented
    policy._guards.finish()
    return ns["r"]


def plain_result(src: str):
    ns = {"np": np, "get_object": lambda name: objects()[name.strip().lower()],
          "move_gripper": lambda v: None}
    exec(src, ns)  # noqa: S102 - the test's own snippets
    return ns["r"]


SNIPPETS = [
    "r = list(map(abs, [-1, 2, -3]))",
    "r = list(zip([1, 2], 'ab', (3.0, 4.0)))",
    "r = sorted([[2, 1], [1, 2], [1]]) + [min(3, 1, 2), max([4, 5]), min([[1], [0]])]",
    "r = sorted([3, 1, 2], key=lambda x: -x, reverse=True)",
    "r = [str([1, 'a', (2.5, None)]), str(3), str(np.ones(2)), f'{[1, 2]}|{1.5:.2f}|{\"x\"!r}']",
    "r = round(2.675, 2), round(7), round(1234, -2), round(np.float64(1.25), 1)",
    "x = [1, 2]\nx.extend((3, 4))\nx.extend(range(2))\nx[1:3] = [9]\nx[::2] = x[::2]\nr = x",
    "x = [3, [1], 2]\nr = [x.count([1]), x.index(2), [1] in x, (1, 2) in {(1, 2): 0}]",
    "x = [[2], [1]]\nx.sort()\nr = x",
    "r = [*range(3), *'ab', *[[1]]], (*(1, 2),), {*[1, 1, 2]}",
    "r = isinstance(1.0, (int, float)), isinstance(np.float64(1), np.float64)",
    "r = np.arange(0, 1, 0.25), np.arange(5), np.arange(1, 10, 3), np.arange(3.0)",
    "r = np.linspace(0, 1, 5), np.linspace([0, 1], [1, 2], 3), np.linspace(0, 1, 4, False)",
    "r = np.zeros((2, 3)), np.ones(3, dtype=np.int64), np.full((2,), 7.0), np.eye(2, 3, 1)",
    "r = np.zeros_like(np.ones(3)), np.full_like(np.ones(2), 2), np.ones_like([1, 2])",
    "r = np.tile([1, 2], 2), np.repeat([1, 2], 2), np.outer([1, 2], [3, 4]), np.identity(2)",
    "a = np.arange(6.0).reshape(2, 3)\nr = a @ a.T, np.dot(a, a.T), np.matmul(a.T, a)",
    "r = np.diff([1, 4, 9, 16]), np.diff([1, 4, 9], n=2), np.round([1.234, 5.678], 1)",
    "a = np.ones(3)\nb = a.astype(np.float32)\nr = b, a.sum(), a.mean(), a.round(1), "
    "a.astype(int), a.astype(dtype=np.int32), a.sum(0, np.float32)",
    "r = np.float64(2.5) * np.array([1, 2]), np.int64(3) * [0], np.array([1.0, 2.0]) + [1, 2]",
    "a = np.arange(9.0).reshape(3, 3)\nr = a[1:, 0], a[[0, 2]], a[a > 4], a[np.array([1])]",
    "a = np.zeros(3)\na[1] = 5\na[:2] = [1, 2]\nd = {}\nd[(1, 2)] = 3\nr = a, d",
    "r = np.linalg.norm([3.0, 4.0]), np.linalg.norm(np.eye(2), 'fro'), np.linalg.det(np.eye(2))",
    "r = np.where(np.arange(3) > 0, 1.0, -1.0), np.clip([1, 5], 0, 3), np.isclose(1.0, 1.0)",
    "r = np.concatenate([[1], [2, 3]]), np.stack([np.ones(2), np.zeros(2)]), np.cross([1, 0, 0],"
    " [0, 1, 0])",
    "r = sum([1, 2, 3]), sum([np.ones(2), np.ones(2)]), list(range(2, 8, 3)), tuple('ab')",
    "r = (np.array([1, 2]) == np.array([1, 3])), [1, 2] == [1, 2], (1, [2]) < (1, [3])",
    "def f(n):\n    try:\n        return 1 / n\n    except ZeroDivisionError:\n        return 0.0\n"
    "r = [f(0), f(2)]",
    "r = np.float64(1.5), np.int32(7), np.bool_(0), np.float64([1, 2])",
]


@pytest.mark.parametrize("src", SNIPPETS)
def test_guards_change_no_result(src):
    got, expected = sandboxed_result(src), plain_result(src)
    assert repr(got) == repr(expected)


@pytest.mark.parametrize("src, kind, needle", [
    ("x = np.array(['a', 'b'])", "limit", "not str"),
    ("x = np.zeros(3, dtype='U8')", "limit", "dtype '<U8' is not allowed"),
    ("x = np.ones(3).astype('O')", "limit", "dtype '|O' is not allowed"),
    ("x = np.zeros(20000)", "memory", "160000 bytes"),
    ("x = np.ones(20000, dtype=np.bool_)", None, None),  # 20,000 bytes: within the byte cap
    ("x = np.arange(0, 1, 1e-6)", "memory", "1000000 elements"),
    ("x = [1] * 9000\nx.extend(x)\nx.extend(x)\nx.extend(x)", None, None),  # 72,000
    ("x = [1] * 9000\nfor i in range(5):\n    x.extend(x)", "memory", "list.extend"),
    ("x = round(1.5, 5000)", "limit", "at most 1000 digits"),
    ("x = zip(*[[1]] * 40)", "limit", "at most 32"),
    ("x = np.diff(np.ones(3), n=5)", "limit", "larger than the array"),
])
def test_guard_refusals_are_precise(src, kind, needle):
    policy = SandboxedPolicy(src, ["button"])
    if kind is None:
        policy.step(objects())
        return
    with pytest.raises(SandboxError) as info:
        policy.step(objects())
    assert info.value.kind == kind and needle in info.value.message, info.value.message


@pytest.mark.parametrize("src, message", [
    ("f = [].extend", "may only be called directly"),
    ("s = 'x'\nt = f'" + "{s}" * 40 + "'", "at most 32 replacement fields"),
    ("a = [1]\nb = [*a, *a, *a, *a, *a, *a, *a, *a, *a]", "at most 8 *unpackings"),
    ("a = [0, 0]\na[0], b = 1, 2", "statement of its own"),
    ("a = [0, 0]\nb = a[0] = 1", "statement of its own"),
    ("a = [0, 0]\nfor a[0] in range(2):\n    pass", "statement of its own"),
])
def test_new_validation_rules(src, message):
    assert any(message in i.message for i in validate_source(src)), validate_source(src)


def test_validation_is_bounded_in_time():
    names = [f"name{i:05d}x" for i in range(700)]
    src = "\n".join(f"{n} = 1" for n in names) + "\n" + "\n".join(
        f"y = {n[:-1]}z" for n in names[:500])
    assert len(src) < 20_000
    t0 = time.perf_counter()
    issues = validate_source(src, time_limit_s=1.0)
    assert time.perf_counter() - t0 < 1.0 + 1.0  # the limit, plus slack for a busy machine
    assert 10 < len(issues) <= 51 and "stopped after 50" in issues[-1].message
    assert "did you mean" in issues[0].message and "did you mean" not in issues[20].message
    slow = validate_source(src, time_limit_s=1e-6)
    assert "took longer than" in slow[-1].message


@pytest.mark.parametrize("kwargs, needle", [
    ({"object_names": 5}, "sequence of strings"),
    ({"object_names": ["button", None]}, "must be strings"),
    ({"limits": "fast"}, "SandboxLimits"),
    ({"filename": None}, "filename"),
])
def test_constructor_raises_one_type_for_bad_input(kwargs, needle):
    with pytest.raises(SandboxError, match=needle) as info:
        SandboxedPolicy("pass", **kwargs)
    assert info.value.kind == "input"


@pytest.mark.parametrize("states, kind", [
    (None, "input"),
    ({"button": ObjectState("button", np.zeros(3))}, "api"),  # no gripper
    ({"gripper": ObjectState("gripper", np.zeros(2))}, "input"),
    ({"gripper": 5}, "input"),
])
def test_step_raises_one_type_for_bad_object_states(states, kind):
    policy = SandboxedPolicy("move_gripper(get_object('gripper').position)")
    with pytest.raises(SandboxError) as info:
        policy.step(states)
    assert info.value.kind == kind
    assert not policy.try_step(states).ok
    assert policy.step(objects()).current_step == 1  # still serving


def test_time_is_measured_without_ticks():
    """Straight-line code is measured (the clock starts with the step, the guards of heavy
    operations look at it), and the end of the step checks once more."""
    lim = SandboxLimits(time_limit_s=0.02)
    with pytest.raises(SandboxError) as info:
        SandboxedPolicy("x = max(range(99999))\n" * 200, [], lim).step(objects())
    assert info.value.kind == "timeout"


def test_program_exception_messages_are_bounded():
    src = "x = []\nfor i in range(3000):\n    x = [x]\nraise ValueError(x)"
    with pytest.raises(SandboxError) as info:
        SandboxedPolicy(src).step(objects())
    assert info.value.kind == "runtime" and "too large to show" in info.value.message
    with pytest.raises(SandboxError) as info:
        SandboxedPolicy("raise ValueError('x' * 9000)").step(objects())
    assert len(info.value.message) <= 2003
