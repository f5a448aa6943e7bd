"""The step loop in one process: the same step the graph's nodes take between them, without
the messages. An episode is a demonstration (teacher only), an interactive episode (agent,
teacher and arbiter) or an evaluation (agent only), by which parties take part."""

from __future__ import annotations

from dataclasses import dataclass, field

from iteach_ros.core import ACTION_DIM
from iteach_ros.core.actions import in_action_space
from iteach_ros.interaction.episode import EpisodeAssembler, FeedbackStats
from iteach_ros.interaction.labels import demonstration, label_step
from iteach_ros.interaction.lockstep import AgentStream, TeacherStream
from iteach_ros.learning.arbiter import FeedbackArbiter


def ends_episode(teacher_action, teacher_failed: str, interactive: bool) -> bool:
    """Whether a step without a teacher action ends the episode as failed: always in a
    demonstration (nothing else can act), in an interactive episode only when the teacher can
    act no more this episode (``TeacherStream.episode_failed``); otherwise the agent's action
    runs unlabelled."""
    return teacher_action is None and (not interactive or bool(teacher_failed))


def teacher_failure(error: str) -> str:
    """The failure reason of an episode that the teacher's fault ended."""
    return f"teacher error: {error}"


def episode_end(info: dict, terminated: bool, truncated: bool) -> tuple[bool, str] | None:
    """(success, failure reason) once an environment step ended the episode, else None."""
    if info["success"]:
        return True, ""
    if terminated or truncated:
        return False, info.get("failure_reason", "ended")
    return None


@dataclass
class EpisodeOutcome:
    success: bool
    steps: int
    reason: str = ""
    teacher_errors: int = 0
    stats: FeedbackStats = field(default_factory=FeedbackStats)


def run_episode(env, seed: int, *, episode: int = 1, run: int = 0,
                agent: AgentStream | None = None,
                teacher: TeacherStream | None = None, arbiter: FeedbackArbiter | None = None,
                assembler: EpisodeAssembler | None = None) -> EpisodeOutcome:
    """One episode from ``env.reset(seed)`` until success, a step limit or infeasible actions.

    Parties: agent + teacher + arbiter (interactive: each step arbitrated and labelled; a
    teacher that cannot act again this episode, its sandbox worker lost, ends it as failed),
    teacher alone (a demonstration: the teacher acts, every step corrective; a teacher fault
    ends it), agent alone (evaluation, nothing labelled). ``assembler`` collects the labelled
    steps. ``run`` and ``episode`` key the steps, so a stream's per-episode state restarts.
    """
    if agent is None and teacher is None:
        raise ValueError("an episode needs an agent, a teacher or both")
    if agent is not None and teacher is not None and arbiter is None:
        raise ValueError("an interactive episode needs an arbiter")
    dim = getattr(env, "action_dim", ACTION_DIM)
    obs, info = env.reset(seed=seed)
    out = EpisodeOutcome(success=bool(info["success"]), steps=0)
    while not out.success:
        key = (run, episode, obs.step)
        agent_action = (agent.act(key, obs.wrist_rgb, obs.proprio) if agent is not None
                        else None)
        label = None
        if teacher is not None:
            teacher_action, error = teacher.act(key, obs.objects)
            if teacher_action is not None:
                teacher_action = in_action_space(teacher_action, dim)
            out.teacher_errors += bool(error)
            if ends_episode(teacher_action, teacher.episode_failed, interactive=agent is not None):
                out.reason = teacher_failure(error)  # no teacher for the rest of it
                break
            if agent is None:
                label = demonstration(teacher_action)
            else:
                label = label_step(arbiter, agent_action, teacher_action, error, dim)
        executed = agent_action if label is None else label.executed
        if label is not None:
            out.stats.add(label.kind, label.angle_deg)
            if assembler is not None:
                assembler.observe(obs.step, obs.wrist_rgb, obs.proprio)
                assembler.label(obs.step, label.executed, label.kind, label.train,
                                label.angle_deg)
        obs, _, terminated, truncated, info = env.step(executed)
        out.steps = info["step"]
        end = episode_end(info, terminated, truncated)
        if end is not None:
            out.success, out.reason = end
            break
    return out
