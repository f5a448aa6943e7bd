"""The step core without DDS or a simulator: labels, episode assembly, lock-step rules, pace."""

import math

import numpy as np
import pytest

from iteach_ros.interaction.episode import EpisodeAssembler, EpisodeCollector, FeedbackStats
from iteach_ros.interaction.labels import demonstration, label_step
from iteach_ros.interaction.lockstep import (
    ActionPairer,
    AgentStream,
    SimLockStep,
    TeacherStream,
)
from iteach_ros.interaction.pace import EpisodeGate, TrainingPace
from iteach_ros.learning.arbiter import ArbiterError, FeedbackArbiter, FeedbackKind

RIGHT = [0.9, 0.0, 0.0, 0.9]
LEFT = [-0.9, 0.0, 0.0, 0.9]


# ---- labels -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, agent, kind, train, executed", [
    ("both", RIGHT, FeedbackKind.EVALUATIVE, True, RIGHT),
    ("both", LEFT, FeedbackKind.CORRECTIVE, True, RIGHT),
    ("corrective_only", RIGHT, FeedbackKind.EVALUATIVE, False, RIGHT),
    ("corrective_only", LEFT, FeedbackKind.CORRECTIVE, True, RIGHT),
    ("evaluative_only", RIGHT, FeedbackKind.EVALUATIVE, True, RIGHT),
    ("evaluative_only", LEFT, FeedbackKind.NONE, False, LEFT),
])
def test_label_carries_the_arbiters_training_decision(mode, agent, kind, train, executed):
    label = label_step(FeedbackArbiter(20.0, mode), agent, RIGHT)
    assert (label.kind, label.train) == (kind, train)
    assert label.executed.tolist() == executed


def test_a_teacher_fault_lets_the_agent_act_unlabelled():
    label = label_step(FeedbackArbiter(), LEFT, None, "ZeroDivisionError: boom")
    assert label.kind == FeedbackKind.NONE and not label.train
    assert label.executed.tolist() == LEFT and "boom" in label.note
    unusable = label_step(FeedbackArbiter(), LEFT, [math.nan] * 4)
    assert unusable.kind == FeedbackKind.NONE and "non-finite" in unusable.note


@pytest.mark.parametrize("bad, reason", [
    ([0.9, 0.0, 0.0, 0.9, 0.0], "5 values"), ([0.1] * 100, "100 values"),
    ([9e29, 0.0, 0.0, 0.9], "outside"), ([1e300, 0.0, 0.0, -0.9], "outside"),
    ([math.inf, 0.0, 0.0, 0.9], "non-finite"), (["a", 0, 0, 0], "numeric"),
])
def test_malformed_or_out_of_range_actions_never_become_labels(bad, reason):
    # as the teacher's: the agent acts unlabelled; as the agent's: the teacher corrects it
    as_teacher = label_step(FeedbackArbiter(), LEFT, bad)
    assert as_teacher.kind == FeedbackKind.NONE and not as_teacher.train
    assert as_teacher.executed.tolist() == LEFT and reason in as_teacher.note
    as_agent = label_step(FeedbackArbiter(), bad, RIGHT)  # 9e29 pointing the teacher's way
    assert as_agent.kind == FeedbackKind.CORRECTIVE and as_agent.executed.tolist() == RIGHT
    assert reason in as_agent.note
    with pytest.raises(ArbiterError, match="neither"):
        label_step(FeedbackArbiter(), bad, bad)


def test_a_missing_agent_action_is_corrected_and_none_at_all_is_an_error():
    label = label_step(FeedbackArbiter(), None, RIGHT)
    assert label.kind == FeedbackKind.CORRECTIVE and label.executed.tolist() == RIGHT
    with pytest.raises(ArbiterError, match="neither"):
        label_step(FeedbackArbiter(), None, None, "crashed")


def test_a_demonstration_step_is_corrective_and_trained_on():
    label = demonstration(RIGHT)
    assert (label.kind, label.train, label.executed.tolist()) == (
        FeedbackKind.CORRECTIVE, True, RIGHT)


# ---- episode assembly ---------------------------------------------------------------------
def _image(v):
    return np.full((4, 4, 3), v, dtype=np.uint8)


def test_assembly_in_any_order_keeps_step_order_and_drops_unlabelled_steps():
    asm = EpisodeAssembler(task="t", episode=3)
    asm.label(2, RIGHT, FeedbackKind.CORRECTIVE, True, 40.0)  # a label before its observation
    for step in (1, 0, 2, 3):
        asm.observe(step, _image(step), np.full(8, step, np.float32))
    asm.label(0, LEFT, FeedbackKind.EVALUATIVE, True, 10.0)
    asm.label(1, RIGHT, FeedbackKind.NONE, False)
    assert not asm.label(1, LEFT, FeedbackKind.CORRECTIVE, True)  # a replay changes nothing
    assert asm.missing_labels() == [3]
    traj = asm.build(success=True)
    assert len(traj) == 3 and traj.meta == {"task": "t", "episode": 3, "success": True}
    assert traj.images[:, 0, 0, 0].tolist() == [0, 1, 2]
    assert traj.kinds.tolist() == [0, 2, 1] and traj.mask.tolist() == [1, 0, 1]
    assert traj.actions[1].tolist() == pytest.approx(RIGHT)
    ev, co, no = asm.stats.rates()
    assert (ev, co, no) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert asm.stats.mean_angle_deg() == pytest.approx(25.0)  # NaN angles are left out


def test_an_episode_without_labels_builds_nothing():
    asm = EpisodeAssembler()
    asm.observe(0, _image(0), np.zeros(8, np.float32))
    assert asm.build() is None
    assert all(math.isnan(r) for r in FeedbackStats().rates())


def test_an_ended_episode_waits_for_its_last_labels_then_goes_without_them():
    c = EpisodeCollector(label_wait_s=2.0)
    ep = (7, 1)  # (run, episode)
    for step in range(3):
        assert c.observe(ep, step, _image(step), np.zeros(8, np.float32))
    c.label(ep, 0, RIGHT, FeedbackKind.CORRECTIVE, True)
    assert c.end(ep, "end event", now=10.0) and not c.end(ep, "again", now=10.5)
    assert c.done(now=11.0) == [] and c.waiting  # steps 1 and 2 still unlabelled
    c.label(ep, 1, RIGHT, FeedbackKind.CORRECTIVE, True)  # a label after the end event
    assert c.done(now=11.5) == []
    [ended] = c.done(now=12.0)  # the deadline: stored without step 2
    assert (ended.key, ended.missing, ended.end) == (ep, [2], "end event")
    traj = ended.assembler.build()
    assert len(traj) == 2 and traj.meta == {"run_id": 7, "episode": 1} and not c.waiting
    # a finished episode refuses replays of its history
    assert not c.label(ep, 2, RIGHT, FeedbackKind.CORRECTIVE, True)
    assert not c.observe(ep, 3, _image(3), np.zeros(8, np.float32)) and not c.end(ep, "x", 13.0)
    # the same episode number in another run (a restarted simulator) is another episode
    assert c.observe((8, 1), 0, _image(0), np.zeros(8, np.float32))


def test_an_episode_complete_at_its_end_is_done_at_once():
    c = EpisodeCollector(label_wait_s=2.0)
    c.observe((1, 4), 0, _image(0), np.zeros(8, np.float32))
    c.label((1, 4), 0, LEFT, FeedbackKind.EVALUATIVE, True)
    c.end((1, 4), "end", now=0.0)
    assert [e.key for e in c.done(now=0.0)] == [(1, 4)]
    c.observe((1, 5), 0, _image(0), np.zeros(8, np.float32))
    c.end((1, 5), "end", now=1.0)
    assert [e.missing for e in c.done(now=1.0, force=True)] == [[0]]  # at shutdown


def test_a_new_run_ends_the_old_runs_open_episodes_as_interrupted():
    c = EpisodeCollector(label_wait_s=2.0)
    c.observe((1, 3), 0, _image(0), np.zeros(8, np.float32))
    c.label((1, 3), 0, LEFT, FeedbackKind.CORRECTIVE, True)
    c.observe((1, 3), 1, _image(1), np.zeros(8, np.float32))  # the simulator died here
    c.observe((2, 1), 0, _image(0), np.zeros(8, np.float32))
    c.new_run(2, now=5.0)
    assert c.done(now=5.0) == [] and c.awaits_labels((1, 3))  # labels may still be in flight
    [old] = c.done(now=7.0)
    assert old.key == (1, 3) and old.end is None and old.missing == [1]
    assert len(old.assembler.build()) == 1 and (2, 1) in c.open


# ---- lock-step ----------------------------------------------------------------------------
def test_the_simulator_takes_only_the_awaited_action_and_retries_then_gives_up():
    ls = SimLockStep(timeout_s=1.0, max_retries=2)
    ls.expect((5, 1, 0), now=0.0)
    assert not ls.is_awaited((5, 1, 1)) and not ls.is_awaited((5, 0, 0))  # future and stale
    assert not ls.is_awaited((6, 1, 0))  # another run's
    assert ls.is_awaited((5, 1, 0))
    ls.accepted()
    assert not ls.is_awaited((5, 1, 0))  # a duplicate after acceptance
    assert ls.ignored == 4
    ls.expect((5, 1, 1), now=10.0)
    assert ls.poll(10.5) is None
    first, second = ls.poll(11.0), ls.poll(12.0)
    assert (first.retry, first.give_up, second.retry, second.give_up) == (1, False, 2, False)
    last = ls.poll(13.0)
    assert last.give_up and last.key == (5, 1, 1) and ls.awaited is None
    ls.expect((5, 2, 0), now=20.0)
    assert ls.retries == 0  # a new episode starts with a clean count


def test_pairing_decides_each_step_once_and_drops_what_can_never_pair():
    p = ActionPairer(keep=4)
    assert p.offer((9, 1, 0), "agent", "a0") == (None, [])
    pair, dropped = p.offer((9, 1, 0), "teacher", "t0")
    assert pair == {"agent": "a0", "teacher": "t0"} and dropped == []
    p.mark_decided((9, 1, 0))
    assert p.offer((9, 1, 0), "agent", "again") == (None, [])  # replayed history
    p.offer((9, 1, 1), "teacher", "t1")  # its agent action never comes
    pair, dropped = p.offer((9, 1, 2), "agent", "a2")
    assert pair is None and dropped == [((9, 1, 1), ["teacher"])]
    with pytest.raises(ValueError):
        p.offer((9, 1, 3), "observer", None)


def test_a_restarted_simulator_is_a_new_run_and_the_old_runs_stragglers_are_refused():
    p = ActionPairer()
    p.offer((1, 3, 7), "agent", "a", stamp_ns=100)
    p.mark_decided((1, 3, 7))
    assert p.offer((1, 3, 1), "agent", "old", 90) == (None, [])  # older than the last decision
    # a new simulator counts episodes from 1 again, in a run of its own
    p.offer((2, 1, 0), "agent", "a", stamp_ns=200)
    assert p.offer((2, 1, 0), "teacher", "t", 200)[0] == {"agent": "a", "teacher": "t"}
    assert p.run == 2 and not p.accepts_run(1, 300)
    assert p.offer((1, 4, 0), "agent", "late", 300) == (None, [])  # the old run's straggler


def test_the_newest_run_wins_whatever_order_a_history_replay_comes_in():
    from iteach_ros.interaction.lockstep import RunTracker

    runs = RunTracker()  # a restarted node: the new run's message first, then old history
    assert runs.accepts(run=9, stamp_ns=500) == (True, True)
    assert runs.accepts(run=8, stamp_ns=400) == (False, False)  # older: refused
    assert runs.accepts(run=8, stamp_ns=600) == (False, False)  # and from now on
    assert runs.accepts(run=9, stamp_ns=450) == (True, False)  # the current run's history
    assert runs.accepts(run=10, stamp_ns=700) == (True, True) and runs.earlier == {8, 9}


def test_the_agent_keeps_its_lstm_state_per_episode_and_answers_repeats_alike():
    calls = []

    def act(image, proprio, state):
        calls.append(state)
        return np.array([len(calls)] * 4, float), (state or 0) + 1

    agent = AgentStream(act)
    first = agent.act((0, 1, 0), None, None)
    assert agent.act((0, 1, 0), None, None) is first  # a republished observation
    agent.act((0, 1, 1), None, None)
    agent.act((0, 2, 0), None, None)
    agent.act((3, 2, 0), None, None)  # episode 2 of another run
    assert calls == [None, 1, None, None]  # the state carried within an episode only


class _Program:
    def __init__(self, fail_at=()):
        self.resets, self.steps, self.fail_at = 0, 0, set(fail_at)

    def reset(self):
        self.resets += 1

    def step(self, objects):
        self.steps += 1
        if self.steps in self.fail_at:
            raise ZeroDivisionError("broken step")
        return type("Step", (), {"action": np.array(RIGHT)})()


def test_the_teacher_restarts_per_episode_steps_once_per_step_and_reports_faults():
    program = _Program(fail_at={2})
    teacher = TeacherStream(program)
    action, error = teacher.act((0, 1, 0), {})
    assert action.tolist() == RIGHT and error == ""
    teacher.act((0, 1, 0), {})  # a republished observation: the program is not stepped again
    assert program.steps == 1
    action, error = teacher.act((0, 1, 1), {})
    assert action is None and "ZeroDivisionError" in error and teacher.errors == 1
    teacher.act((0, 2, 0), {})
    assert program.resets == 2


# ---- pace ---------------------------------------------------------------------------------
def test_the_pace_target_grows_with_every_stored_episode():
    pace = TrainingPace(base_steps=200, steps_per_episode=4)
    assert pace.target(0) == 200 and pace.target(10) == 240
    assert pace.reached(240, 10) and not pace.reached(239, 10)
    with pytest.raises(ValueError):
        TrainingPace(-1, 4)


def test_the_gate_opens_when_the_episode_is_stored_and_trained_for():
    gate = EpisodeGate("episode")
    assert not gate.may_start(0, now=0.0, run=5)  # no status from the learner yet
    gate.update(last_episode=0, ready=True, gradient_steps=200, target_steps=200)
    assert gate.may_start(0, now=2.5, run=5) and gate.last_wait_s == pytest.approx(2.5)
    gate.update(last_episode=0, ready=True, run=5)  # episode 1 ended but is not stored yet
    assert not gate.may_start(1, now=3.0, run=5)
    gate.update(last_episode=1, ready=True, run=4)  # an earlier run's episode 1
    assert not gate.may_start(1, now=3.5, run=5)
    gate.update(last_episode=1, ready=False, run=5)  # stored, training behind
    assert not gate.may_start(1, now=4.0, run=5) and gate.waiting
    gate.update(last_episode=1, ready=True, run=5)
    assert gate.may_start(1, now=5.0, run=5) and gate.total_wait_s == pytest.approx(4.5)
    assert EpisodeGate("free").may_start(7, now=0.0)
    with pytest.raises(ValueError):
        EpisodeGate("sometimes")


# ---- schedule -----------------------------------------------------------------------------
def test_the_schedule_interleaves_progress_checks_on_fixed_seeds():
    from iteach_ros.interaction.schedule import EpisodeSchedule

    entries = list(EpisodeSchedule(5, seed=100, progress_every=2, progress_episodes=2,
                                   progress_seed=800))
    assert [(e.seed, e.evaluation, e.trained_before) for e in entries] == [
        (100, False, 0), (101, False, 1), (800, True, 2), (801, True, 2),
        (102, False, 2), (103, False, 3), (800, True, 4), (801, True, 4), (104, False, 4)]
    held_out = list(EpisodeSchedule(3, seed=900, evaluation=True, progress_every=1,
                                    progress_episodes=5))
    assert [(e.seed, e.evaluation) for e in held_out] == [(900, True), (901, True), (902, True)]
    endless = iter(EpisodeSchedule(0, seed=7))
    assert [next(endless).seed for _ in range(4)] == [7, 8, 9, 10]


def test_when_a_missing_teacher_action_ends_the_episode():
    from iteach_ros.interaction.loop import ends_episode

    action = np.zeros(4)
    assert ends_episode(None, "", interactive=False)  # a demonstration has nobody else
    assert not ends_episode(None, "", interactive=True)  # one bad step: the agent acts
    assert ends_episode(None, "SandboxError: [crash]", interactive=True)  # gone for good
    assert not ends_episode(action, "", interactive=True)
