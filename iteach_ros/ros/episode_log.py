"""What a graph run did, episode by episode, heard from outside the graph: a listener in the
launcher's (or the experiment runner's) own process that subscribes to every pipeline's episode
events, feedback records and training status, and turns them into one row per ended episode
(outcome, feedback shares and mean angle as the runner computes them, the learner's gradient
steps when it had stored the episode, wall time)."""

from __future__ import annotations

import csv
import math
import threading
import time
from pathlib import Path

from iteach_ros.interaction.episode import FeedbackStats

FIELDS = ("pipeline", "run_id", "episode", "evaluation", "task", "seed", "success", "steps",
          "reason",
          "evaluative_rate", "corrective_rate", "none_rate", "mean_angle_deg", "teacher_errors",
          "gradient_steps", "wall_s")


class EpisodeLog:
    """Spins its own rclpy context in a background thread (the caller is not a ROS node)."""

    def __init__(self, namespaces: list[str]):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from iteach_ros.ros import interfaces as topics

        self._lock = threading.Lock()
        self._started: dict[tuple[str, int], float] = {}
        self._ended: dict[tuple[str, int], dict] = {}
        self._stats: dict[tuple[str, int], FeedbackStats] = {}
        self._teacher_errors: dict[tuple[str, int], int] = {}
        self._seen: set[tuple[str, int, int]] = set()
        self._stored_steps: dict[tuple[str, int], int] = {}
        self.status: dict[str, object] = {}
        # When things were first heard, on this process's monotonic clock (where time goes).
        self.heard: dict[str, float] = {}
        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        self.node = rclpy.create_node("episode_log", context=self._context)
        for ns in namespaces:
            topics.EPISODE_EVENT.subscription(self.node, lambda m, ns=ns: self._event(ns, m), ns)
            topics.FEEDBACK.subscription(self.node, lambda m, ns=ns: self._feedback(ns, m), ns)
            topics.TRAINING_STATUS.subscription(self.node, lambda m, ns=ns: self._status(ns, m),
                                                ns)
        self.executor = SingleThreadedExecutor(context=self._context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.1)

    @staticmethod
    def _seconds(stamp) -> float:
        return stamp.sec + stamp.nanosec * 1e-9

    def _event(self, ns: str, msg) -> None:
        from iteach_ros.msg import EpisodeEvent

        key = (ns, int(msg.run_id), int(msg.episode))
        with self._lock:
            now = time.monotonic()
            self.heard.setdefault("first_episode", now)
            if msg.event != EpisodeEvent.STARTED:
                self.heard["last_end"] = now
            if msg.event == EpisodeEvent.STARTED:
                self._started.setdefault(key, self._seconds(msg.header.stamp))
                return
            if key in self._ended:  # late-joiner replays of the same event
                return
            self._ended[key] = {"pipeline": ns or "/", "run_id": f"{msg.run_id:016x}",
                                "episode": int(msg.episode),
                                "evaluation": bool(msg.evaluation), "task": msg.task,
                                "seed": int(msg.seed),
                                "success": msg.event == EpisodeEvent.SUCCEEDED,
                                "steps": int(msg.steps), "reason": msg.reason,
                                "end": self._seconds(msg.header.stamp)}

    def _feedback(self, ns: str, msg) -> None:
        with self._lock:
            seen = (ns, int(msg.run_id), int(msg.episode), int(msg.step))
            if seen in self._seen:
                return
            self._seen.add(seen)
            key = seen[:3]
            self._stats.setdefault(key, FeedbackStats()).add(msg.kind, msg.angle_deg)
            if not msg.teacher_action:  # the teacher gave no action for this step
                self._teacher_errors[key] = self._teacher_errors.get(key, 0) + 1

    def _status(self, ns: str, msg) -> None:
        with self._lock:
            self.heard.setdefault("learner_up", time.monotonic())
            self.status[ns] = msg
            self._stored_steps.setdefault((ns, int(msg.run_id), int(msg.last_episode)),
                                          int(msg.gradient_steps))

    @property
    def ended(self) -> int:
        with self._lock:
            return len(self._ended)

    def rows(self) -> list[dict]:
        """One row per ended episode, per pipeline in the order they ended."""
        out = []
        with self._lock:
            for key in sorted(self._ended, key=lambda k: (k[0], self._ended[k]["end"])):
                row = {k: v for k, v in self._ended[key].items() if k != "end"}
                stats = self._stats.get(key, FeedbackStats())
                ev, co, no = stats.rates()
                start = self._started.get(key)
                row.update(evaluative_rate=ev, corrective_rate=co, none_rate=no,
                           mean_angle_deg=stats.mean_angle_deg(),
                           teacher_errors=self._teacher_errors.get(key, 0),
                           gradient_steps=self._stored_steps.get(key, -1),
                           wall_s=(self._ended[key]["end"] - start) if start else math.nan)
                out.append(row)
        return out

    def close(self) -> list[dict]:
        """Stop listening; the rows heard."""
        self._stop.set()
        self._thread.join()
        rows = self.rows()
        self.node.destroy_node()
        self._context.try_shutdown()
        return rows


def write_csv(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(FIELDS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def summary_table(rows: list[dict]) -> str:
    if not rows:
        return "no episode ended"
    ok = sum(r["success"] for r in rows)
    steps = sum(r["steps"] for r in rows) / len(rows)
    return (f"| episodes | succeeded | success rate | mean steps |\n|---|---|---|---|\n"
            f"| {len(rows)} | {ok} | {ok / len(rows):.0%} | {steps:.0f} |")
