"""sim_bridge: owns the simulator, publishes each observation and steps on the executed action.

Lock-step: the simulator advances only when the executed action for its current (episode,
step) arrives. Stale or duplicate actions are ignored and counted; a missing action is reported
after ``action_timeout_s`` and the observation republished, up to ``max_action_retries`` times,
after which the episode ends as failed. No step is ever filled in with a made-up action.
"""

from __future__ import annotations

import sys
import time

from rclpy.node import Node

from iteach_ros.msg import Action, EpisodeEvent
from iteach_ros.ros import interfaces as io
from iteach_ros.ros.conversions import joint_state_msg, object_poses_msg, observation_to_msg
from iteach_ros.ros.node_support import declare_from_graph, run_node, spin_loop


class SimBridgeNode(Node):
    def __init__(self):
        super().__init__("sim_bridge")
        self.params = p = declare_from_graph(self, "sim_bridge")
        from iteach_ros.sim import make_env

        self.env = make_env(p.task, backend=p.backend, render_wrist=p.render_wrist,
                            max_steps=p.max_steps or None, image_size=p.image_size)
        self.observation_pub = self.create_publisher(io.OBSERVATION.type, io.OBSERVATION.name,
                                                     io.OBSERVATION.qos)
        self.image_pub = self.create_publisher(io.WRIST_IMAGE.type, io.WRIST_IMAGE.name,
                                               io.WRIST_IMAGE.qos)
        self.joint_pub = self.create_publisher(io.JOINT_STATES.type, io.JOINT_STATES.name,
                                               io.JOINT_STATES.qos)
        self.poses_pub = self.create_publisher(io.OBJECT_POSES.type, io.OBJECT_POSES.name,
                                               io.OBJECT_POSES.qos)
        self.event_pub = self.create_publisher(io.EPISODE_EVENT.type, io.EPISODE_EVENT.name,
                                               io.EPISODE_EVENT.qos)
        self.executed_sub = self.create_subscription(
            io.EXECUTED_ACTION.type, io.EXECUTED_ACTION.name, self.executed_callback,
            io.EXECUTED_ACTION.qos)
        self.reset_srv = self.create_service(io.RESET_EPISODE.type, io.RESET_EPISODE.name,
                                             self.reset_callback)
        self.watchdog_timer = self.create_timer(0.1, self.watchdog_callback)
        self.episode = 0
        self.episodes_done = 0
        self.seed = p.seed
        self.active = False
        self.last_obs = None  # the observation message of the step awaiting an action
        self.waiting_since = None
        self.retries = 0
        self.ignored_actions = 0
        self.finished = False
        self.start_timer = None
        if p.autostart:
            self.start_timer = self.create_timer(p.start_delay_s, self.start_callback)
        self.get_logger().info(f"task {p.task} ({p.backend}), {p.episodes or 'unlimited'} "
                               f"episodes from seed {p.seed}")

    # ---- episodes ----------------------------------------------------------------------------
    def start_callback(self):
        # The graph is connected when enough nodes observe: a fixed sleep alone races discovery.
        if (self.observation_pub.get_subscription_count() < self.params.min_subscribers
                or self.count_publishers(self.executed_sub.topic_name) == 0):
            return
        self.destroy_timer(self.start_timer)
        self.start_timer = None
        if not self.active and self.episode == 0:
            self.begin_episode(self.seed)

    def begin_episode(self, seed: int) -> None:
        obs, _ = self.env.reset(seed=seed)
        self.episode += 1
        self.seed = seed
        self.active = True
        self.retries = 0
        self.publish_event(EpisodeEvent.STARTED, "", 0)
        self.publish_observation(obs)

    def end_episode(self, event: int, reason: str, steps: int) -> None:
        self.active = False
        self.waiting_since = None
        self.episodes_done += 1
        self.publish_event(event, reason, steps)
        verdict = "succeeded" if event == EpisodeEvent.SUCCEEDED else f"failed ({reason})"
        self.get_logger().info(f"episode {self.episode} (seed {self.seed}) {verdict} "
                               f"after {steps} steps")
        if self.params.episodes and self.episodes_done >= self.params.episodes:
            self.finished = True
            return
        self.begin_episode(self.seed + 1)

    def publish_event(self, event: int, reason: str, steps: int) -> None:
        msg = EpisodeEvent(episode=self.episode, task=self.params.task, seed=self.seed,
                           event=event, reason=reason, steps=steps)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = io.WORLD_FRAME
        self.event_pub.publish(msg)

    def publish_observation(self, obs) -> None:
        stamp = self.get_clock().now().to_msg()
        obs_msg = observation_to_msg(obs, stamp=stamp, episode=self.episode,
                                     task=self.params.task, seed=self.seed)
        self.last_obs = obs_msg
        self._send(obs_msg)
        # Visualisation only: no serialisation on the lock-step path when nobody looks.
        if obs.wrist_rgb is not None and self.image_pub.get_subscription_count():
            self.image_pub.publish(obs_msg.wrist_image)
        if self.joint_pub.get_subscription_count():
            self.joint_pub.publish(joint_state_msg(obs_msg))
        if self.poses_pub.get_subscription_count():
            self.poses_pub.publish(object_poses_msg(obs_msg))

    def _send(self, obs_msg) -> None:
        self.observation_pub.publish(obs_msg)
        self.waiting_since = self.get_clock().now()

    # ---- callbacks ---------------------------------------------------------------------------
    def executed_callback(self, msg: Action) -> None:
        current = self.last_obs
        if (not self.active or current is None or msg.episode != self.episode
                or msg.step != current.step):
            self.ignored_actions += 1
            self.get_logger().debug(f"ignored action for episode {msg.episode} step {msg.step}")
            return
        if msg.error:
            self.get_logger().error(f"executed action carries an error: {msg.error}")
            return
        try:
            obs, _, terminated, truncated, info = self.env.step(list(msg.values))
        except ValueError as exc:  # malformed action: reported, the step awaits a valid one
            self.get_logger().error(f"rejected executed action {list(msg.values)}: {exc}")
            return
        self.retries = 0
        if info["success"]:
            self.end_episode(EpisodeEvent.SUCCEEDED, "", info["step"])
        elif terminated or truncated:
            self.end_episode(EpisodeEvent.FAILED, info.get("failure_reason", "ended"),
                             info["step"])
        else:
            self.publish_observation(obs)

    def watchdog_callback(self) -> None:
        if not self.active or self.waiting_since is None:
            return
        waited = (self.get_clock().now() - self.waiting_since).nanoseconds * 1e-9
        if waited < self.params.action_timeout_s:
            return
        step = self.last_obs.step
        self.retries += 1
        if self.retries > self.params.max_action_retries:
            self.get_logger().error(f"episode {self.episode} step {step}: no executed action "
                                    f"after {self.params.max_action_retries} retries; failing")
            self.end_episode(EpisodeEvent.FAILED, f"no executed action for step {step}", step)
            return
        self.get_logger().warn(f"episode {self.episode} step {step}: no executed action within "
                               f"{self.params.action_timeout_s:.1f} s; republishing "
                               f"(retry {self.retries}/{self.params.max_action_retries})")
        self._send(self.last_obs)

    def reset_callback(self, request, response):
        if request.task and request.task != self.params.task:
            response.success = False
            response.message = (f"this bridge runs {self.params.task!r}; switching tasks needs "
                                f"a restart with task:={request.task}")
            return response
        seed = request.seed if request.seed >= 0 else self.seed + 1
        if self.active:
            self.active = False
            self.publish_event(EpisodeEvent.FAILED, "reset requested",
                               self.last_obs.step if self.last_obs else 0)
        self.finished = False
        self.begin_episode(seed)
        response.success, response.episode, response.seed = True, self.episode, seed
        response.message = f"episode {self.episode} started with seed {seed}"
        return response

    def destroy_node(self):
        self.env.close()
        return super().destroy_node()


def spin_until_done(node: SimBridgeNode, executor) -> None:
    spin_loop(executor, until=lambda: node.finished)
    if node.finished:
        node.get_logger().info(f"{node.episodes_done} episodes done; "
                               f"{node.ignored_actions} stale actions ignored")
        # Linger so late subscribers still get the last events before the node goes.
        end = time.monotonic() + 1.0
        spin_loop(executor, until=lambda: time.monotonic() >= end)


def main(args=None) -> int:
    return run_node("sim_bridge", SimBridgeNode, args, spin=spin_until_done)


if __name__ == "__main__":
    sys.exit(main())
