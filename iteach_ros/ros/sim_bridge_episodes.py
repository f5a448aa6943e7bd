"""How sim_bridge's episodes follow one another: it starts once the graph is connected, each
episode waits at the training-pace gate (``interaction.pace.EpisodeGate``), and the next one
comes from the schedule (``episodes`` > 0) or from a ``run_episodes`` goal (N episodes,
feedback per episode, the success rate as result).

:class:`EpisodeFlow` is a part of :class:`~iteach_ros.ros.sim_bridge_node.SimBridgeNode`: it
uses the node's simulator, publishers, gate, lock-step and episode counters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rclpy.action import GoalResponse
from rclpy.task import Future

from iteach_ros.interaction.schedule import EpisodeSchedule
from iteach_ros.msg import EpisodeEvent
from iteach_ros.ros import interfaces as topics

WAIT_REPORT_S = 5.0  # while waiting for the learner or the graph, say so this often


@dataclass
class Goal:
    """A run_episodes goal in progress."""

    handle: object
    episodes: object  # iterator of ScheduledEpisode
    done: Future
    results: list = field(default_factory=list)  # (seed, success, steps, reason)
    cancelled: bool = False


class EpisodeFlow:
    """Episode start, end and the next one; the run_episodes action."""

    def start_callback(self):
        # The graph is connected when enough nodes observe: a fixed sleep alone races discovery.
        observers = self.observation_pub.get_subscription_count()
        arbiters = self.count_publishers(self.executed_sub.topic_name)
        if self.robot:  # the robot contract: the policy node is the graph
            missing = self.robot_waiting_for()
            if missing:
                self.report(f"waiting for {missing}")
                return
        elif observers < self.params.min_subscribers or arbiters == 0:
            self.report(f"waiting for the graph: {observers}/{self.params.min_subscribers} "
                        f"observation subscribers (teacher, learner), {arbiters} "
                        f"executed-action publishers (the arbiter)")
            return
        self.destroy_timer(self.start_timer)
        self.start_timer = None
        self.connected = True
        if self.next is None:
            self.request_next()
        else:  # a goal that came before the graph was connected
            self.try_start()

    def report(self, line: str) -> None:
        """Say what the simulator waits for, every WAIT_REPORT_S."""
        now = self.now()
        if now - self.last_wait_report >= WAIT_REPORT_S:
            if self.last_wait_report:
                self.get_logger().info(line)
            self.last_wait_report = now
            self.publish_diagnostics()

    def request_next(self) -> None:
        """The next episode (a goal's, else the schedule's; none: idle, or the schedule is
        complete) starts when the gate opens: at once under ``pace: free``."""
        if self.goal is not None:
            self.next = None if self.goal.cancelled else next(self.goal.episodes, None)
            if self.next is None:
                self.complete_goal()
        elif self.schedule is not None:
            self.next = next(self.schedule, None)
            self.schedule_done = self.next is None
        self.try_start()

    def try_start(self) -> None:
        if not (self.connected and self.stepping) or self.active or self.finished:
            return
        if self.next is None and not self.schedule_done:
            return  # idle: waiting for a goal or a reset request
        if not self.gate.may_start(self.episode, self.now(), self.run_id):
            waited = self.now() - self.gate.waiting_since
            stored = self.gate.stored(self.episode, self.run_id)
            what = ("its status" if self.gate.last_episode < 0 else
                    f"episode {self.episode} to be stored" if not stored
                    else f"gradient steps {self.gate.gradient_steps}/{self.gate.target_steps}")
            self.report(f"waiting {waited:.0f} s for the learner ({what}; pace "
                        f"{self.params.pace})")
            return
        entry, self.next = self.next, None
        if self.gate.last_wait_s > 0.05:
            self.get_logger().info(
                f"waited {self.gate.last_wait_s:.1f} s for the learner (gradient steps "
                f"{self.gate.gradient_steps}/{self.gate.target_steps})")
            self.gate.last_wait_s = 0.0
        if entry is None:  # the schedule is complete and the learner has the last episode
            self.finished = True
            self.publish_diagnostics()
            return
        self.begin_episode(entry.seed, entry.evaluation)

    def begin_episode(self, seed: int, evaluation: bool) -> None:
        obs, _ = self.env.reset(seed=seed)
        self.frames.publish_static()  # the reset moved the scene's fixed bodies
        self.episode += 1
        self.seed, self.evaluation = seed, evaluation
        self.active = True
        self.publish_event(EpisodeEvent.STARTED, "", 0)
        if self.robot:
            self.robot_begin(lambda: self.publish_observation(obs))
        else:
            self.publish_observation(obs)

    def end_episode(self, event: int, reason: str, steps: int) -> None:
        self.active = False
        self.lockstep.stop()
        self.episodes_done += 1
        self.publish_event(event, reason, steps)
        success = event == EpisodeEvent.SUCCEEDED
        kind = "evaluation episode" if self.evaluation else "episode"
        self.get_logger().info(f"{kind} {self.episode} (seed {self.seed}) "
                               f"{'succeeded' if success else f'failed ({reason})'} after "
                               f"{steps} steps")
        if self.goal is not None:
            self.goal_feedback(success, steps, reason)
        self.request_next()

    # ---- the run_episodes action ---------------------------------------------------------------
    def goal_callback(self, request) -> GoalResponse:
        busy = ("the node runs its schedule (episodes > 0)" if self.schedule is not None else
                "another goal is running" if self.goal is not None else
                "the node is not active" if not self.stepping else "")
        if busy or request.episodes == 0:
            self.get_logger().warn(f"run_episodes refused: {busy or 'zero episodes'}")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    async def execute_goal(self, handle):
        r = handle.request
        first = int(r.seed) if r.use_seed else self.seed + 1
        self.goal = Goal(handle, iter(EpisodeSchedule(r.episodes, first, r.evaluation)),
                         Future())
        self.get_logger().info(f"run_episodes: {r.episodes} "
                               f"{'evaluation' if r.evaluation else 'training'} episodes from "
                               f"seed {first}")
        self.request_next()
        return await self.goal.done

    def goal_feedback(self, success: bool, steps: int, reason: str) -> None:
        g = self.goal
        g.results.append((self.seed, success, steps, reason))
        ok = sum(res[1] for res in g.results)
        g.cancelled = g.cancelled or g.handle.is_cancel_requested
        g.handle.publish_feedback(topics.RUN_EPISODES.type.Feedback(
            episode=self.episode, done=len(g.results), seed=self.seed, success=success,
            steps=steps, reason=reason, success_rate=ok / len(g.results)))

    def complete_goal(self, aborted: bool = False) -> None:
        g, self.goal = self.goal, None
        ok, n = sum(res[1] for res in g.results), len(g.results)
        result = topics.RUN_EPISODES.type.Result(episodes=n, succeeded=ok,
                                                 success_rate=ok / n if n else math.nan,
                                                 run_id=self.run_id)
        if aborted:
            g.handle.abort()
        elif g.cancelled:
            g.handle.canceled()
        else:
            g.handle.succeed()
        self.get_logger().info(f"run_episodes done: {ok}/{n} succeeded")
        g.done.set_result(result)

