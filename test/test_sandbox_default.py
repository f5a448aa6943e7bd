"""Generated and user-file CodePolicies run in a sandbox worker by default wherever they run: the
teacher (make_teacher, ObtainedPolicy), the experiment runner, validation during generation; the
user can pick in_process. A worker that dies mid-episode fails that episode with its reason and
the next episode runs in a fresh worker, through the runner's episode loop (demonstration,
evaluation and interactive episodes) and through the teacher node."""

import os
import signal
import time

import numpy as np
import pytest

from iteach_ros.codepolicy.reference import load_reference
from iteach_ros.codepolicy.runtime import CodePolicyExecutor
from iteach_ros.codepolicy.sandbox import (
    SANDBOXES,
    SandboxedPolicy,
    SandboxError,
    WorkerPolicy,
    untrusted_policy,
)
from iteach_ros.core import SANDBOXES as CORE_SANDBOXES
from iteach_ros.experiments import protocol
from iteach_ros.experiments.config import ProtocolConfig
from iteach_ros.ros.graph import NODE_BY_NAME, node_overrides
from iteach_ros.teacher.service import make_teacher

TASK = "reach_target"
MAX_STEPS = 60


@pytest.fixture
def program(tmp_path):
    """The reference program of TASK as a user's CodePolicy file (untrusted once it is a file)."""
    path = tmp_path / "policy.py"
    path.write_text(load_reference(TASK))
    return path


def kill_worker(policy: WorkerPolicy) -> None:
    os.kill(policy._worker.proc.pid, signal.SIGKILL)


def test_untrusted_programs_run_in_a_worker_unless_in_process_is_picked(program):
    assert SANDBOXES == CORE_SANDBOXES and SANDBOXES[0] == "worker"
    with make_teacher(TASK, str(program)) as teacher:
        assert isinstance(teacher, WorkerPolicy)
    with make_teacher(TASK, str(program), "in_process") as teacher:
        assert isinstance(teacher, SandboxedPolicy)
    reference = make_teacher(TASK, "reference")  # the developers' program: in process
    assert isinstance(reference, CodePolicyExecutor)
    reference.close()
    with pytest.raises(SandboxError, match="sandbox must be one of") as err:
        untrusted_policy("set_done()", sandbox="subprocess")
    assert err.value.kind == "input"


def test_obtained_policies_run_in_a_worker_by_default():
    from iteach_ros.teacher.service import ObtainedPolicy

    obtained = ObtainedPolicy(TASK, load_reference(TASK), "cache", ("target",))
    with obtained.sandboxed() as policy:
        assert isinstance(policy, WorkerPolicy)
    with obtained.sandboxed(sandbox="in_process") as policy:
        assert isinstance(policy, SandboxedPolicy)


def test_the_runner_and_the_graph_default_to_the_worker_and_pass_the_choice_on():
    assert ProtocolConfig().sandbox == "worker"
    with pytest.raises(ValueError, match="sandbox must be one of"):
        ProtocolConfig(sandbox="bare")
    param = NODE_BY_NAME["teacher"].parameters["sandbox"]
    assert param.default == "worker" and param.choices == SANDBOXES
    assert node_overrides({"sandbox": "in_process"}) == {"teacher": {"sandbox": "in_process"}}
    with pytest.raises(ValueError, match="launch argument sandbox"):
        node_overrides({"sandbox": "bare"})


def test_the_graph_transport_hands_the_sandbox_to_the_teacher_node(tmp_path):
    from iteach_ros.experiments.graph_transport import phase_processes

    for sandbox in SANDBOXES:
        cfg = ProtocolConfig(task=TASK, sandbox=sandbox, transport="graph")
        specs = phase_processes(cfg, tmp_path, seed=0, episodes=1, interactive=True)
        teacher = next(s for s in specs if s.name.endswith("teacher"))
        assert f"sandbox:={sandbox}" in " ".join(teacher.cmd)


# ---- validation during generation ----------------------------------------------------------
CRASH_AT_STEP_2 = """
if current_step == 1:
    move_gripper([0.0, 0.0, 0.01])
    increment_current_step()
else:
    t = ()
    for i in range(1500):
        t = """ + "(" * 90 + "t" + ",)" * 90 + """
    s = {t}
"""  # hashing a 135,000-deep tuple recurses in C without a depth check: SIGSEGV in process


def test_validation_runs_each_candidate_in_a_worker(monkeypatch):
    from test_teacher_generation import OBJECTS, SEEDS, FakeReachEnv

    from iteach_ros.teacher import validation

    made = []
    real = validation.validation_policy

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(validation, "validation_policy", spy)
    # A worker-only crash (it would take the validating process with it): every episode fails
    # with the worker's reason, each in a fresh worker, and validation carries on.
    rep = validation.validate_policy(CRASH_AT_STEP_2, "reach", SEEDS, env=FakeReachEnv(),
                                     object_names=OBJECTS)
    assert isinstance(made[-1], WorkerPolicy) and made[-1].restarts == len(SEEDS)
    assert [e.error_kind for e in rep.episodes] == ["crash"] * len(SEEDS)
    assert all(e.final_step == 2 for e in rep.episodes)
    assert "worker crashed" in rep.feedback()
    good = "g = get_object('gripper')\nmove_gripper(get_object('target').position - g.position)"
    rep = validation.validate_policy(good, "reach", SEEDS, env=FakeReachEnv(),
                                     object_names=OBJECTS)
    assert isinstance(made[-1], WorkerPolicy) and rep.success_rate == 1.0
    assert made[-1]._closed  # validation closes its worker


def test_validation_time_is_bounded_by_its_budget():
    from test_teacher_generation import OBJECTS, FakeReachEnv

    from iteach_ros.teacher.validation import validate_policy

    slow = ("x = 0\nfor i in range(30000):\n    x = x + i\n"
            "g = get_object('gripper')\nmove_gripper(get_object('target').position - g.position)")
    t0 = time.perf_counter()
    rep = validate_policy(slow, "reach", range(40), env=FakeReachEnv(), object_names=OBJECTS,
                          budget_s=0.5)
    assert time.perf_counter() - t0 < 30  # 40 episodes x ~20 steps x a few ms without it
    timeouts = [e for e in rep.episodes if e.error_kind == "timeout"]
    assert len(rep.episodes) == 40 and len(timeouts) >= 30
    assert "wall-clock budget of 0.5 s" in timeouts[-1].error


# ---- a worker that dies mid-episode, through the runner --------------------------------------
class KillingEnv:
    """The task's environment; at step ``at_step`` of episode ``in_episode`` it kills the
    teacher's worker (as a segfault or the kernel's OOM killer would)."""

    def __init__(self, teacher_of, in_episode: int, at_step: int, render_wrist=False):
        from iteach_ros.sim import make_env

        self.env = make_env(TASK, render_wrist=render_wrist, max_steps=MAX_STEPS,
                            image_size=32)
        self.teacher_of, self.in_episode, self.at_step = teacher_of, in_episode, at_step
        self.episodes = 0

    def reset(self, seed=None):
        self.episodes += 1
        return self.env.reset(seed=seed)

    def step(self, action):
        out = self.env.step(action)
        if self.episodes == self.in_episode and out[4]["step"] == self.at_step:
            kill_worker(self.teacher_of())
        return out

    def close(self):
        self.env.close()


@pytest.fixture
def captured(monkeypatch):
    """The teacher run_protocol makes."""
    teachers = []

    def make(*args):
        teachers.append(make_teacher(*args))
        return teachers[-1]

    monkeypatch.setattr(protocol, "make_teacher", make)
    return teachers


def test_a_worker_killed_mid_episode_fails_that_evaluation_episode_only(program, captured):
    env = KillingEnv(lambda: captured[0], in_episode=2, at_step=5)
    cfg = ProtocolConfig(task=TASK, method="teacher", eval_episodes=3, teacher=str(program),
                         max_steps=MAX_STEPS)
    result = protocol.run_protocol(cfg, env=env, progress=False)
    env.close()
    teacher = captured[0]
    assert isinstance(teacher, WorkerPolicy) and teacher.restarts == 1
    assert [r.success for r in result.records] == [True, False, True]
    failed = result.records[1]
    assert failed.failure_reason.startswith("teacher error: SandboxError: [memory] the worker "
                                            "was killed (SIGKILL")
    assert "the next one runs in a fresh worker" in failed.failure_reason
    assert failed.steps == 5
    assert teacher._closed  # run_protocol closes its teacher


def test_a_worker_killed_during_a_demonstration_fails_it_and_the_next_seed_is_tried(
        program, captured):
    from iteach_ros.experiments.records import ProtocolResult
    from iteach_ros.learning.buffer import ReplayBuffer

    teacher = make_teacher(TASK, str(program))
    captured.append(teacher)
    env = KillingEnv(lambda: teacher, in_episode=1, at_step=3, render_wrist=True)
    cfg = ProtocolConfig(task=TASK, demos=2, max_steps=MAX_STEPS, sequence_length=20)
    buffer, result = ReplayBuffer(cfg.sequence_length, cfg.sequence_mode), ProtocolResult({})
    try:
        protocol._collect_demos(cfg, env, teacher, buffer, result, progress=False)
    finally:
        env.close()
        teacher.close()
    assert [r.success for r in result.records] == [False, True, True]
    assert "SIGKILL" in result.records[0].failure_reason and len(buffer) == 2


def test_a_worker_killed_mid_interactive_episode_ends_it_with_the_reason(program):
    from iteach_ros.interaction.lockstep import AgentStream, TeacherStream
    from iteach_ros.learning.arbiter import FeedbackArbiter

    teacher = make_teacher(TASK, str(program))
    env = KillingEnv(lambda: teacher, in_episode=1, at_step=4, render_wrist=True)
    agent = AgentStream(lambda image, proprio, state: (np.zeros(4), state))
    stream, arbiter = TeacherStream(teacher), FeedbackArbiter(20.0)
    try:
        outs = []
        for episode in (1, 2):
            outs.append(protocol.interactive_episode(env, episode, episode, agent, stream,
                                                     arbiter, TASK))
    finally:
        env.close()
        teacher.close()
    (lost, trajectory), (next_one, _) = outs
    assert not lost.success and lost.steps == 4 and lost.teacher_errors == 1
    assert lost.reason.startswith("teacher error: SandboxError: [memory] the worker was killed")
    assert trajectory is not None and len(trajectory) == 4  # the labels it had are kept
    assert next_one.teacher_errors == 0 and next_one.steps > 4  # a fresh worker teaches
