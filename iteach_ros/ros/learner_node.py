"""learner: the CEILing policy acting on every observation, trained on the feedback stream.

It serves one or more pipelines (namespaces). Per pipeline it answers each observation (object
states, proprioception and the wrist image in one message) with an agent action, journals the
observation and, when the arbiter's feedback arrives, the label. At each episode end the episode
becomes a trajectory in the replay buffer (one file per trajectory) and a checkpoint is written;
gradient steps run in a background thread meanwhile. Killed mid-episode and restarted with the
same ``checkpoint_dir``, it reloads buffer, checkpoint and the journal of the episode in
progress, so no recorded feedback is lost (the LSTM state of that episode starts over).
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from iteach_ros.learning.arbiter import FeedbackKind
from iteach_ros.learning.buffer import (
    ReplayBuffer,
    Trajectory,
    load_trajectory,
    save_trajectory,
)
from iteach_ros.learning.journal import EpisodeJournal
from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
from iteach_ros.learning.trainer import Trainer, TrainerConfig
from iteach_ros.msg import Action, EpisodeEvent
from iteach_ros.ros import interfaces as io
from iteach_ros.ros.conversions import (
    MessageError,
    action_msg,
    image_from_msg,
    proprio_from_msg,
)
from iteach_ros.ros.node_support import declare_from_graph, run_node

CHECKPOINT = "learner.pt"
# The end event (from the simulator) can overtake the last feedback records (from the arbiter):
# an ended episode waits this long for the labels of the steps it acted on.
LABEL_WAIT_S = 2.0


@dataclass
class Stream:
    """What the learner holds for one pipeline."""

    ns: str
    publisher: object = None
    episode: int = -1
    lstm_state: object = None
    last: tuple | None = None  # ((episode, step), action): answers a republished observation
    steps: dict = field(default_factory=dict)  # episode -> {step: (image, proprio)}
    labels: dict = field(default_factory=dict)  # episode -> {step: (action, kind, train)}
    ending: dict = field(default_factory=dict)  # episode -> (end event, deadline): awaiting labels
    journal: EpisodeJournal | None = None


def _safe(ns: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", ns).strip("_") or "root"


class LearnerNode(Node):
    def __init__(self):
        super().__init__("learner")
        self.params = p = declare_from_graph(self, "learner")
        if p.torch_threads > 0:
            import torch

            torch.set_num_threads(p.torch_threads)
        self.dir = Path(p.checkpoint_dir).expanduser() if p.checkpoint_dir else None
        self.buffer = ReplayBuffer(p.sequence_length)
        self.saved_episodes: set[str] = set()
        self.trainer = self._make_trainer()
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.streams = []
        for ns in p.pipelines or [""]:
            self.streams.append(self._make_stream(ns))
        self.status_timer = self.create_timer(0.5, self.timer_callback)
        if p.train:
            self.trainer.start()
        self.get_logger().info(
            f"serving {[s.ns or '/' for s in self.streams]}; train={p.train}; buffer "
            f"{len(self.buffer)} trajectories; {self.trainer.steps} gradient steps so far")

    # ---- set-up ------------------------------------------------------------------------------
    def _make_trainer(self) -> Trainer:
        p = self.params
        cfg = TrainerConfig(batch_size=p.batch_size, seed=p.seed)
        if self.dir is not None:
            for path in sorted((self.dir / "trajectories").glob("*.npz")):
                self.buffer.add(load_trajectory(path))
                self.saved_episodes.add(path.stem)
            ckpt = self.dir / CHECKPOINT
            if ckpt.exists():
                trainer, _ = Trainer.load_checkpoint(ckpt, self.buffer)
                self.get_logger().info(f"resumed from {ckpt} ({trainer.steps} steps)")
                return trainer
        if p.warm_start_checkpoint:
            trainer, _ = Trainer.load_checkpoint(p.warm_start_checkpoint, self.buffer)
            trainer.steps = 0
            return trainer
        import torch

        torch.manual_seed(p.seed)  # the same initial weights for the same seed
        return Trainer(CeilingPolicy(PolicyConfig(image_size=p.image_size)), self.buffer, cfg)

    def _make_stream(self, ns: str) -> Stream:
        s = Stream(ns)
        prefix = f"{ns}/" if ns else ""
        s.publisher = self.create_publisher(io.AGENT_ACTION.type, prefix + io.AGENT_ACTION.name,
                                            io.AGENT_ACTION.qos)
        self.create_subscription(io.OBSERVATION.type, prefix + io.OBSERVATION.name,
                                 lambda m, s=s: self.observation_callback(s, m),
                                 io.OBSERVATION.qos)
        if self.params.train:
            self.create_subscription(io.FEEDBACK.type, prefix + io.FEEDBACK.name,
                                     lambda m, s=s: self.feedback_callback(s, m), io.FEEDBACK.qos)
            self.create_subscription(io.EPISODE_EVENT.type, prefix + io.EPISODE_EVENT.name,
                                     lambda m, s=s: self.event_callback(s, m),
                                     io.EPISODE_EVENT.qos)
            if self.dir is not None:
                size = self.trainer.policy.cfg.image_size
                s.journal = EpisodeJournal(self.dir / "journal" / f"{_safe(ns)}.bin",
                                           (size, size, 3))
                for episode, ep in s.journal.read().items():  # the episode(s) in progress
                    s.steps[episode] = dict(ep.observations)
                    s.labels[episode] = {k: (a, int(kind), t)
                                         for k, (a, kind, t) in ep.feedback.items()}
        return s

    # ---- acting ------------------------------------------------------------------------------
    def observation_callback(self, s: Stream, msg) -> None:
        if s.last is not None and s.last[0] == (msg.episode, msg.step):
            self.answer(s, msg, s.last[1])  # republished: the same answer, LSTM untouched
            return
        try:
            image = image_from_msg(msg.wrist_image)
        except MessageError as exc:
            self.get_logger().error(f"{s.ns or '/'}: episode {msg.episode} step {msg.step}: "
                                    f"bad wrist image: {exc}", throttle_duration_sec=2.0)
            return
        self.act(s, msg, image)

    def act(self, s: Stream, obs, image: np.ndarray) -> None:
        if obs.episode != s.episode:
            s.episode, s.lstm_state = obs.episode, None
        proprio = proprio_from_msg(obs)
        action, s.lstm_state = self.trainer.act(image, proprio, s.lstm_state)
        s.last = ((obs.episode, obs.step), action)
        if self.params.train:  # journalled before the answer: its feedback cannot come first
            s.steps.setdefault(obs.episode, {})[obs.step] = (image, proprio)
            if s.journal is not None:
                s.journal.log_observation(obs.episode, obs.step, image, proprio)
        self.answer(s, obs, action)

    @staticmethod
    def answer(s: Stream, obs, action) -> None:
        s.publisher.publish(action_msg(action, header=obs.header, episode=obs.episode,
                                       step=obs.step, source=Action.SOURCE_AGENT))

    # ---- learning ----------------------------------------------------------------------------
    def feedback_callback(self, s: Stream, msg) -> None:
        labels = s.labels.setdefault(msg.episode, {})
        if msg.step in labels or self._episode_id(s, msg.episode) in self.saved_episodes:
            return  # replayed history a restarted learner already holds
        train = msg.kind != FeedbackKind.NONE
        labels[msg.step] = (np.asarray(msg.executed_action, dtype=np.float32), msg.kind, train)
        if s.journal is not None:
            s.journal.log_feedback(msg.episode, msg.step, msg.executed_action, msg.kind, train)
        if msg.episode in s.ending:
            self.finish_ready(s)

    def event_callback(self, s: Stream, msg) -> None:
        if msg.event == EpisodeEvent.STARTED:
            return
        if self._episode_id(s, msg.episode) in self.saved_episodes or msg.episode in s.ending:
            return
        s.ending[msg.episode] = (msg, time.monotonic() + LABEL_WAIT_S)
        self.finish_ready(s)

    def finish_ready(self, s: Stream, force: bool = False) -> None:
        """Store the ended episodes whose every acted-on step is labelled (or that waited long
        enough: then without the missing steps, reported)."""
        for episode, (msg, deadline) in list(s.ending.items()):
            missing = set(s.steps.get(episode, {})) - set(s.labels.get(episode, {}))
            if missing and not force and time.monotonic() < deadline:
                continue
            del s.ending[episode]
            if missing:
                self.get_logger().warn(f"{s.ns or '/'} episode {episode}: no feedback for "
                                       f"steps {sorted(missing)}; stored without them")
            self.finish_episode(s, msg)

    def finish_episode(self, s: Stream, msg) -> None:
        episode_id = self._episode_id(s, msg.episode)
        steps = s.steps.pop(msg.episode, {})
        labels = s.labels.pop(msg.episode, {})
        usable = sorted(set(steps) & set(labels))
        if usable:
            traj = Trajectory(
                np.stack([steps[k][0] for k in usable]), np.stack([steps[k][1] for k in usable]),
                np.stack([labels[k][0] for k in usable]),
                np.array([labels[k][1] for k in usable], dtype=np.uint8),
                {"task": msg.task, "seed": int(msg.seed), "episode": int(msg.episode),
                 "pipeline": s.ns, "success": msg.event == EpisodeEvent.SUCCEEDED},
                np.array([labels[k][2] for k in usable], dtype=np.uint8))
            self.buffer.add(traj)
            if self.dir is not None:
                save_trajectory(traj, self.dir / "trajectories" / f"{episode_id}.npz")
        self.saved_episodes.add(episode_id)
        if s.journal is not None:
            s.journal.discard(msg.episode)
        if self.dir is not None:
            self.trainer.save_checkpoint(self.dir / CHECKPOINT)
        self.get_logger().info(
            f"{s.ns or '/'} episode {msg.episode}: {len(usable)} labelled steps "
            f"({'success' if msg.event == EpisodeEvent.SUCCEEDED else msg.reason}); buffer "
            f"{len(self.buffer)} trajectories, {self.trainer.steps} gradient steps")
        self.status_callback()

    @staticmethod
    def _episode_id(s: Stream, episode: int) -> str:
        return f"{_safe(s.ns)}_{episode:06d}"

    def timer_callback(self) -> None:
        for s in self.streams:
            self.finish_ready(s)
        self.status_callback()

    def status_callback(self) -> None:
        m = self.trainer.last_metrics
        values = {"trajectories": len(self.buffer), "samples": self.buffer.num_samples,
                  "corrective_samples": self.buffer.num_corrective,
                  "alpha": round(self.buffer.alpha(), 3), "gradient_steps": self.trainer.steps,
                  "loss": round(m.get("loss", float("nan")), 4)}
        status = DiagnosticStatus(level=DiagnosticStatus.OK, name="iteach_ros/learner",
                                  message="training" if self.trainer.running else "acting",
                                  hardware_id="learner",
                                  values=[KeyValue(key=k, value=str(v))
                                          for k, v in values.items()])
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(arr)

    def shutdown(self) -> None:
        for s in self.streams:
            self.finish_ready(s, force=True)
        self.trainer.stop()
        if self.dir is not None:
            self.trainer.save_checkpoint(self.dir / CHECKPOINT)
        for s in self.streams:
            if s.journal is not None:
                s.journal.close()


def main(args=None) -> int:
    return run_node("learner", LearnerNode, args, finish=LearnerNode.shutdown)


if __name__ == "__main__":
    sys.exit(main())
