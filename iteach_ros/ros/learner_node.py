"""learner: the CEILing policy acting on every observation, trained on the feedback stream.

It serves one or more pipelines (namespaces). Per pipeline it answers each observation (object
states, proprioception and the wrist image in one message) with an agent action
(``interaction.lockstep.AgentStream``), and collects the episodes from the observations it
acted on and the arbiter's feedback records (``interaction.episode.EpisodeCollector``), keyed by
(simulator run, episode): a restarted simulator is a new run whose episodes never collide with
the old one's. At each episode end the episode becomes a trajectory in the replay buffer (one
file per trajectory) and a checkpoint is written; gradient steps run in a background thread.

Everything that arrives is checked first (``interaction.checks``): an image of another size or
encoding, non-finite proprioception, a feedback record with an unknown kind or an executed
action that is not a valid action is refused with a log line naming topic, publishers and step,
and never reaches the buffer, the journal or a loss.

Warm start as in the experiment runner: ``demonstrations`` (a ReplayBuffer file) stay in the
buffer for the whole run, and ``warm_steps`` gradient steps on them come before the first
episode. The training pace (``interaction.pace.TrainingPace``) is reported per pipeline on
``training_status``: with the simulator's ``pace: episode`` the next episode starts only once
``warm_steps + steps_per_episode x stored episodes`` gradient steps are done.

Killed mid-episode and restarted with the same ``checkpoint_dir``, it reloads buffer, checkpoint
and the journal of the episode in progress, so no recorded feedback is lost (the LSTM state of
that episode starts over). An unreadable trajectory or journal is moved aside, not fatal.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from iteach_ros.core import ACTION_DIMS
from iteach_ros.interaction.checks import (
    InvalidData,
    check_action,
    check_image,
    check_kind,
    check_proprio,
)
from iteach_ros.interaction.episode import EpisodeAssembler, EpisodeCollector
from iteach_ros.interaction.lockstep import AgentStream
from iteach_ros.interaction.pace import TrainingPace
from iteach_ros.learning.buffer import ReplayBuffer
from iteach_ros.learning.store import CHECKPOINT, JOURNALS
from iteach_ros.msg import Action, EpisodeEvent, TrainingStatus
from iteach_ros.ros import interfaces as topics
from iteach_ros.ros import learner_state as store
from iteach_ros.ros.conversions import (
    MessageError,
    action_msg,
    image_from_msg,
    proprio_from_msg,
    stamp_ns,
    step_key,
)
from iteach_ros.ros.learner_state import Pipeline, file_stem
from iteach_ros.ros.node_support import (
    bring_up,
    declare_from_graph,
    diagnostics,
    publishers_of,
    run_node,
    transition,
    watch_parameters,
)

# The end event (from the simulator) can overtake the last feedback records (from the arbiter):
# an ended episode waits this long for the labels of the steps it acted on.
LABEL_WAIT_S = 2.0
STATUS_PERIOD_S = 0.05  # training status checked this often, published when it changes
STATUS_HEARTBEAT_S = 1.0  # and at least this often


class LearnerNode(LifecycleNode):
    """A managed node: ``configure`` loads the buffer, the checkpoint and the demonstrations,
    ``activate`` starts acting and training, ``deactivate`` pauses both without losing the
    episodes in progress (observations that come meanwhile are not answered: the simulator
    republishes them), ``autostart`` does configure and activate at start."""

    def __init__(self):
        super().__init__("learner")
        self.params = p = declare_from_graph(self, "learner")
        self.trainer = None
        self.pipelines: list[Pipeline] = []
        self.acting = False
        watch_parameters(self, "learner", p, self.apply_parameter)
        if p.autostart:
            bring_up(self)

    @transition
    def on_configure(self, state) -> TransitionCallbackReturn:
        p = self.params
        if p.torch_threads > 0:
            import torch

            torch.set_num_threads(p.torch_threads)
        self.dir = Path(p.checkpoint_dir).expanduser() if p.checkpoint_dir else None
        self.buffer = ReplayBuffer(p.sequence_length, p.sequence_mode)
        self.demos_stored = False
        self.interactive_episodes = 0
        self.training_failure_reported = False
        self.pipelines = [self._make_pipeline(ns) for ns in p.pipelines or [""]]
        self._load_trajectories()
        self.trainer, extra = store.make_trainer(p, self.dir, self.buffer, self.get_logger())
        self._add_demonstrations()
        if "pace_base" in extra:  # resumed: the warm start is behind us
            base = int(extra["pace_base"])
        else:
            warm = p.warm_steps if p.train and len(self.buffer) else 0
            base = self.trainer.steps + warm
        self.pace = TrainingPace(base, p.steps_per_episode)
        self.diagnostics_pub = topics.DIAGNOSTICS.publisher(self)
        self.status_timer = self.create_timer(STATUS_PERIOD_S, self.status_callback)
        self.diagnostics_timer = self.create_timer(0.5, self.diagnostics_callback)
        self.get_logger().info(
            f"serving {[pl.label for pl in self.pipelines]}; train={p.train} collect="
            f"{p.collect}; buffer {len(self.buffer)} trajectories "
            f"({self.interactive_episodes} interactive); {self.trainer.steps} gradient steps so "
            f"far; first episode after {self.pace.target(self.interactive_episodes)}")
        return TransitionCallbackReturn.SUCCESS

    @transition
    def on_activate(self, state) -> TransitionCallbackReturn:
        self.acting = True
        if self.params.train and not self.trainer.running:
            self.trainer.start()
        return super().on_activate(state)

    @transition
    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.acting = False
        if self.trainer.running:
            self.trainer.stop()
        self.save()
        self.get_logger().info(f"paused at {self.trainer.steps} gradient steps")
        return super().on_deactivate(state)

    def apply_parameter(self, name: str, value) -> None:
        """train (starts or stops the training thread) and steps_per_episode at run time."""
        if self.trainer is None:
            return  # not configured yet: configure reads the new value
        if name == "train":
            if value and self.acting and not self.trainer.running:
                self.trainer.start()
            elif not value and self.trainer.running:
                self.trainer.stop()
        elif name == "steps_per_episode":
            self.pace = TrainingPace(self.pace.base_steps, value)

    # ---- set-up ------------------------------------------------------------------------------
    def _trajectory_dir(self) -> Path | None:
        return store.trajectory_dir(self.dir)

    def _load_trajectories(self) -> None:
        """Everything stored by an earlier run on this ``checkpoint_dir``."""
        tdir = self._trajectory_dir()
        if tdir is None or not self.params.collect:
            return
        self.demos_stored, self.interactive_episodes = store.load_trajectories(
            tdir, self.buffer, self.pipelines, self.get_logger())

    def _add_demonstrations(self) -> None:
        """The warm-start demonstrations, in the buffer for the whole run (stored once)."""
        p = self.params
        if not p.demonstrations or self.demos_stored:
            return
        count = store.add_demonstrations(p.demonstrations, self.buffer, self._trajectory_dir(),
                                         ACTION_DIMS[p.action_mode])
        self.get_logger().info(f"{count} demonstrations from {p.demonstrations}")

    def _make_pipeline(self, ns: str) -> Pipeline:
        pl = Pipeline(ns, AgentStream(lambda image, proprio, state: self.trainer.act(
            image, proprio, state)), EpisodeCollector(
                LABEL_WAIT_S, lambda key: EpisodeAssembler(
                    pipeline=ns, run_id=int(key[0]), episode=int(key[1]),
                    source="interactive")))
        pl.action_pub = topics.AGENT_ACTION.publisher(self, ns)
        pl.status_pub = topics.TRAINING_STATUS.publisher(self, ns)
        subs = {"observation": (topics.OBSERVATION, self.observation_callback),
                "episode_event": (topics.EPISODE_EVENT, self.event_callback)}
        if self.params.collect:
            subs["feedback"] = (topics.FEEDBACK, self.feedback_callback)
        for role, (topic, callback) in subs.items():
            pl.subscriptions[role] = topic.subscription(
                self, lambda m, pl=pl, cb=callback: cb(pl, m), ns)
        if self.params.collect and self.dir is not None:
            pl.journal = store.open_journal(self.dir / JOURNALS / f"{file_stem(ns)}.bin",
                                            self.params.image_size, self.get_logger(),
                                            ACTION_DIMS[self.params.action_mode])
            store.restore_journal(pl, self.get_logger())
        return pl

    # ---- incoming data -----------------------------------------------------------------------
    def refuse(self, pl: Pipeline, role: str, msg, reason: str) -> None:
        topic = pl.subscriptions[role].topic_name
        self.get_logger().error(
            f"refused on {topic} (publishers: {publishers_of(self, topic)}), run "
            f"{msg.run_id:016x} episode {msg.episode} step {getattr(msg, 'step', '-')}: {reason}",
            throttle_duration_sec=1.0)

    def follows(self, pl: Pipeline, role: str, msg) -> bool:
        """Whether ``msg`` belongs to the pipeline's simulator run. A newer run (a restarted
        simulator) is followed from now on; the old run's open episodes are stored as they
        are. Messages of earlier runs are refused (stragglers, or a second graph)."""
        before = pl.run
        accepted, switched = pl.runs.accepts(int(msg.run_id), stamp_ns(msg))
        if not accepted:
            self.refuse(pl, role, msg, "of an earlier simulator run (a restarted simulator's "
                        "predecessor, or another graph on this ROS domain)")
            return False
        if switched:
            if before is not None:
                self.get_logger().warn(f"{pl.label}: simulator run {pl.run:016x} replaces "
                                       f"{before:016x}; its open episodes are stored as they are")
            pl.collector.new_run(pl.run, time.monotonic())
            self.store_done(pl)
        return True

    # ---- acting ------------------------------------------------------------------------------
    def observation_callback(self, pl: Pipeline, msg) -> None:
        if not self.acting:
            return  # paused: the simulator republishes it after activation
        key = step_key(msg)
        earlier = pl.agent.repeat(key)
        if earlier is not None:  # republished: the same answer, LSTM untouched
            self.answer(pl, msg, earlier)
            return
        if not self.follows(pl, "observation", msg):
            return
        try:
            image = check_image(image_from_msg(msg.wrist_image), self.params.image_size)
            proprio = check_proprio(proprio_from_msg(msg))
        except (MessageError, InvalidData) as exc:
            self.refuse(pl, "observation", msg, str(exc))
            return
        action = pl.agent.act(key, image, proprio)
        # journalled before the answer: its feedback cannot come first
        if (self.params.collect and not msg.evaluation
                and pl.collector.observe(key[:2], msg.step, image, proprio)
                and pl.journal is not None):
            pl.journal.log_observation(key[:2], msg.step, image, proprio, stamp_ns(msg))
        self.answer(pl, msg, action)

    @staticmethod
    def answer(pl: Pipeline, obs, action) -> None:
        source = Action.SOURCE_AGENT_ALONE if obs.evaluation else Action.SOURCE_AGENT
        pl.action_pub.publish(action_msg(action, answering=obs, source=source))

    # ---- learning ----------------------------------------------------------------------------
    def feedback_callback(self, pl: Pipeline, msg) -> None:
        # An interrupted episode of an earlier run still takes the labels it waits for.
        late = pl.collector.awaits_labels((int(msg.run_id), int(msg.episode)))
        if not late and not self.follows(pl, "feedback", msg):
            return
        try:
            kind = check_kind(msg.kind)
            executed = check_action(msg.executed_action, ACTION_DIMS[self.params.action_mode],
                                    what="executed action")
        except InvalidData as exc:
            self.refuse(pl, "feedback", msg, str(exc))
            return
        key = step_key(msg)
        if not pl.collector.label(key[:2], msg.step, executed, kind, msg.train, msg.angle_deg):
            return  # replayed history: a finished episode, or a step already labelled
        if pl.journal is not None:
            pl.journal.log_feedback(key[:2], msg.step, executed, kind, msg.train, stamp_ns(msg))
        if key[:2] in pl.collector.ending:
            self.store_done(pl)

    def event_callback(self, pl: Pipeline, msg) -> None:
        if not self.follows(pl, "episode_event", msg) or msg.event == EpisodeEvent.STARTED:
            return
        if not self.params.collect or msg.evaluation:  # nothing to store: done with at once
            pl.finished[pl.run] = max(pl.last_finished, int(msg.episode))
            self.publish_status(pl)
            return
        if pl.collector.end((int(msg.run_id), int(msg.episode)), msg, time.monotonic()):
            self.store_done(pl)

    def store_done(self, pl: Pipeline, force: bool = False) -> None:
        """Store the episodes the collector is done with (all ended ones when ``force``d)."""
        for ended in pl.collector.done(time.monotonic(), force):
            if ended.missing:
                self.get_logger().warn(f"{pl.label} run {ended.key[0]:016x} episode "
                                       f"{ended.key[1]}: no feedback for steps "
                                       f"{ended.missing}; stored without them")
            self.store(pl, ended.key, ended.assembler, ended.end)

    def store(self, pl: Pipeline, key, asm: EpisodeAssembler | None, msg) -> None:
        """One finished episode into the buffer and onto disk; ``msg`` None: interrupted (its
        simulator was restarted)."""
        run, episode = key
        success = msg is not None and msg.event == EpisodeEvent.SUCCEEDED
        reason = "interrupted" if msg is None else ("success" if success else msg.reason)
        meta = {"success": success} if msg is None else {"task": msg.task,
                                                         "seed": int(msg.seed),
                                                         "success": success}
        traj = None if asm is None else asm.build(**meta, reason=reason)
        if traj is not None:
            self.buffer.add(traj)
            self.interactive_episodes += 1
            store.save_episode(self._trajectory_dir(), pl, run, episode, traj)
        pl.finished[run] = max(pl.finished.get(run, 0), int(episode))
        if pl.journal is not None:
            pl.journal.discard(key)
        self.save()
        self.get_logger().info(
            f"{pl.label} episode {episode}: {0 if traj is None else len(traj)} labelled "
            f"steps ({reason}); buffer {len(self.buffer)} trajectories, {self.trainer.steps} "
            f"gradient steps, next episode after {self.pace.target(self.interactive_episodes)}")
        self.publish_status(pl)

    def save(self) -> None:
        if self.dir is not None and (self.params.train or self.params.collect):
            self.trainer.save_checkpoint(self.dir / CHECKPOINT,
                                         extra={"pace_base": self.pace.base_steps})

    # ---- status ------------------------------------------------------------------------------
    def status_of(self, pl: Pipeline) -> TrainingStatus:
        steps = self.trainer.steps
        target = self.pace.target(self.interactive_episodes)
        ready = not pl.collector.waiting and (not self.params.train or steps >= target)
        return TrainingStatus(gradient_steps=steps, target_steps=target,
                              episodes=self.interactive_episodes, trajectories=len(self.buffer),
                              run_id=pl.run or 0, last_episode=pl.last_finished, ready=ready,
                              training=self.trainer.running)

    def publish_status(self, pl: Pipeline, force: bool = True) -> None:
        """Publish the pipeline's status when what the simulator waits on changed (the step
        count changes with every gradient step: it rides along), on the heartbeat, or when
        ``force``d (an episode was stored)."""
        msg = self.status_of(pl)
        now = time.monotonic()
        key = (msg.target_steps, msg.run_id, msg.last_episode, msg.ready, msg.training)
        if not force and key == pl.last_status and now - pl.last_status_at < STATUS_HEARTBEAT_S:
            return
        msg.header.stamp = self.get_clock().now().to_msg()
        pl.status_pub.publish(msg)
        pl.last_status, pl.last_status_at = key, now

    def status_callback(self) -> None:
        for pl in self.pipelines:
            if pl.collector.waiting:
                self.store_done(pl)
            self.publish_status(pl, force=False)

    def diagnostics_callback(self) -> None:
        m = self.trainer.last_metrics
        failure = self.trainer.failure
        if failure is not None and not self.training_failure_reported:
            self.training_failure_reported = True
            self.get_logger().error(f"the training thread died: {type(failure).__name__}: "
                                    f"{failure}; no more gradient steps (the last weights are "
                                    f"kept)")
        values = {"trajectories": len(self.buffer), "samples": self.buffer.num_samples,
                  "corrective_samples": self.buffer.num_corrective,
                  "alpha": round(self.buffer.alpha(), 3), "gradient_steps": self.trainer.steps,
                  "skipped_steps": self.trainer.skipped_steps,
                  "target_steps": self.pace.target(self.interactive_episodes),
                  "interactive_episodes": self.interactive_episodes,
                  "loss": round(m.get("loss", float("nan")), 4)}
        if failure is not None:
            level, message = DiagnosticStatus.ERROR, f"training failed: {failure}"
        else:
            level = DiagnosticStatus.OK
            message = "training" if self.trainer.running else "acting"
        self.diagnostics_pub.publish(diagnostics(self, "iteach_ros/learner", level, message,
                                                 values))

    def shutdown(self) -> None:
        if self.trainer is None:
            return  # never configured: nothing to keep
        for pl in self.pipelines:
            self.store_done(pl, force=True)
        try:
            self.trainer.stop()
        except RuntimeError as exc:  # reported when it happened; the weights stand
            self.get_logger().error(f"{exc}: {exc.__cause__!r}")
        self.save()
        for pl in self.pipelines:
            if pl.journal is not None:
                pl.journal.close()


def main(args=None) -> int:
    return run_node("learner", LearnerNode, args, finish=LearnerNode.shutdown)


if __name__ == "__main__":
    sys.exit(main())
