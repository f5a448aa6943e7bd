"""sim_bridge: owns the simulator, publishes each observation and steps on the executed action.

A managed (lifecycle) node: ``configure`` builds the simulator (loads the MuJoCo scene),
``activate`` starts stepping (the schedule's first episode once the graph is connected),
``deactivate`` pauses without losing the episode (an action that arrives meanwhile is held,
the observation is republished on ``activate``), ``cleanup`` ends a paused episode (and aborts
its ``run_episodes`` goal), closes the simulator and destroys what ``configure`` created
(publishers, the scene's TF and descriptions, subscriptions, the service; the action server
stays, refusing goals unless active). With ``autostart`` (the default) it configures and
activates itself; without, a lifecycle manager or ``ros2 lifecycle set`` drives it.

Lock-step (``interaction.lockstep.SimLockStep``): the simulator advances only when the executed
action for its current (run, episode, step) arrives. Stale or duplicate actions are ignored and
counted; a missing action is reported after ``action_timeout_s`` and the observation
republished, up to ``max_action_retries`` times, after which the episode ends as failed. No step
is ever filled in with a made-up action.

Training pace (``interaction.pace.EpisodeGate``): with ``pace: episode`` an episode starts only
once the learner reports on ``training_status`` that it has stored the previous one and taken
the gradient steps due (its warm start before the first); how long the simulator waited is in
its log and on ``/diagnostics``. ``pace: free`` never waits.

Episodes follow ``interaction.schedule.EpisodeSchedule``: ``episodes`` training episodes from
``seed``, with ``progress_episodes`` evaluation episodes (the learner acting alone) after every
``progress_every`` of them; ``evaluation: true`` makes every episode an evaluation episode; then
the node exits. With ``episodes: 0`` there is no schedule: the node serves the ``run_episodes``
action (N episodes, feedback per episode, the success rate as result) until stopped.
"""

from __future__ import annotations

import secrets
import sys
import time

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.action import ActionServer, CancelResponse
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from iteach_ros.interaction.checks import InvalidData, check_action
from iteach_ros.interaction.lockstep import SimLockStep
from iteach_ros.interaction.loop import episode_end
from iteach_ros.interaction.pace import EpisodeGate
from iteach_ros.interaction.schedule import EpisodeSchedule, ScheduledEpisode
from iteach_ros.msg import Action, EpisodeEvent
from iteach_ros.ros import interfaces as topics
from iteach_ros.ros.conversions import (
    DEPTH_ENCODING,
    LABELS_ENCODING,
    camera_info_msg,
    joint_state_msg,
    object_poses_msg,
    observation_to_msg,
    plane_to_msg,
    step_key,
)
from iteach_ros.ros.graph import PIPELINE_SEED_STRIDE
from iteach_ros.ros.node_support import (
    bring_up,
    declare_from_graph,
    diagnostics,
    publishers_of,
    run_node,
    spin_loop,
    transition,
    watch_parameters,
)
from iteach_ros.ros.scene_frames import SceneFramesPublisher
from iteach_ros.ros.sim_bridge_episodes import EpisodeFlow, Goal
from iteach_ros.ros.sim_bridge_robot import RobotInterface

SUCCESS = TransitionCallbackReturn.SUCCESS


class SimBridgeNode(EpisodeFlow, RobotInterface, LifecycleNode):
    def __init__(self):
        super().__init__("sim_bridge")
        self.params = p = declare_from_graph(self, "sim_bridge")
        # This simulator's run: every message of its episodes carries it, so a restarted
        # simulator (counting episodes from 1 again) is never taken for this one.
        self.run_id = secrets.randbits(63)
        self.started_at = self.get_clock().now()
        self.exit_code = 0
        self.env = None
        self.frames: SceneFramesPublisher | None = None  # configure creates it
        self.action_server = None  # from the first configure on (goals only while active)
        self.lockstep = SimLockStep(p.action_timeout_s, p.max_action_retries)
        # No learner trains behind the robot contract: nothing to wait for.
        self.gate = EpisodeGate("free" if p.command_interface == "robot" else p.pace)
        self.first_seed = p.seed + p.pipeline_index * PIPELINE_SEED_STRIDE  # never overlap
        self.schedule = (iter(EpisodeSchedule(p.episodes, self.first_seed, p.evaluation,
                                              p.progress_every, p.progress_episodes,
                                              p.progress_seed)) if p.episodes else None)
        self.goal: Goal | None = None
        self.episode = 0
        self.episodes_done = 0
        self.seed = self.first_seed - 1  # the one before the next
        self.evaluation = p.evaluation
        self.active = False  # an episode is running
        self.stepping = False  # the lifecycle state is active
        self.held: Action | None = None  # an action that came while inactive
        self.last_obs = None  # the observation message of the step awaiting an action
        self.next: ScheduledEpisode | None = None  # the episode waiting at the gate
        self.last_wait_report = 0.0
        self.finished = False
        self.schedule_done = False  # the schedule's last episode has been handed out
        self.connected = False
        self.start_timer = None
        watch_parameters(self, "sim_bridge", p, self.apply_parameter)
        if p.autostart:
            bring_up(self)

    @staticmethod
    def now() -> float:
        return time.monotonic()

    # ---- lifecycle ---------------------------------------------------------------------------
    @transition
    def on_configure(self, state) -> TransitionCallbackReturn:
        p = self.params
        from iteach_ros.sim import make_env

        self.env = make_env(p.task, backend=p.backend, render_wrist=p.render_wrist,
                            max_steps=p.max_steps or None, image_size=p.image_size,
                            action_mode=p.action_mode)
        self.rig = None  # the perception camera (perception_camera: the paper's question 3)
        if p.perception_camera:
            if p.backend != "mujoco":
                raise ValueError("perception_camera renders the MuJoCo scene: backend mujoco")
            from iteach_ros.sim.perception import CameraRig

            self.rig = CameraRig(self.env)
            self.perception_msgs = ()
        self.observation_pub = topics.OBSERVATION.publisher(self)
        self.image_pub = topics.WRIST_IMAGE.publisher(self)
        self.joint_pub = topics.JOINT_STATES.publisher(self)
        self.poses_pub = topics.OBJECT_POSES.publisher(self)
        self.event_pub = topics.EPISODE_EVENT.publisher(self)
        self.diagnostics_pub = topics.DIAGNOSTICS.publisher(self)
        # Visualisation: TF, camera_info, robot and scene descriptions (scene_frames).
        self.frames = SceneFramesPublisher(self, self.env, perception_camera=self.rig is not None)
        self.perception_pubs = ()
        if self.rig is not None:
            self.perception_pubs = tuple(t.publisher(self) for t in (
                topics.PERCEPTION_DEPTH, topics.PERCEPTION_LABELS, topics.PERCEPTION_CAMERA_INFO))
            self.perception_pubs[2].publish(camera_info_msg(
                self.rig.intrinsics, self.get_clock().now().to_msg(),
                topics.PERCEPTION_CAMERA_FRAME))
        self.executed_sub = topics.EXECUTED_ACTION.subscription(self, self.executed_callback)
        # Another simulator on this topic (two graphs on one domain) would mix their episodes.
        self.event_sub = topics.EPISODE_EVENT.subscription(self, self.other_event_callback)
        self.status_sub = topics.TRAINING_STATUS.subscription(self, self.status_callback)
        self.reset_srv = topics.RESET_EPISODE.server(self, self.reset_callback)
        self.robot_configure()  # command_interface: robot
        if self.action_server is None:  # kept by cleanup: it sends an aborted goal's result
            self.action_server = ActionServer(
                self, topics.RUN_EPISODES.type, topics.RUN_EPISODES.name, self.execute_goal,
                goal_callback=self.goal_callback,
                cancel_callback=lambda _: CancelResponse.ACCEPT)
        self.watchdog_timer = self.create_timer(0.1, self.watchdog_callback)
        checks = (f", {p.progress_episodes} evaluation episodes every {p.progress_every}"
                  if p.progress_every and p.progress_episodes and not p.evaluation else "")
        what = ("no schedule: serving the run_episodes action" if self.schedule is None else
                f"{p.episodes} {'evaluation' if p.evaluation else 'training'} episodes from "
                f"seed {self.first_seed}{checks}")
        self.get_logger().info(f"run {self.run_id:016x}: task {p.task} ({p.backend}), {what}, "
                               f"pace {self.gate.pace}")
        return SUCCESS

    @transition
    def on_activate(self, state) -> TransitionCallbackReturn:
        self.stepping = True
        if not self.connected and self.start_timer is None:
            self.start_timer = self.create_timer(self.params.start_delay_s, self.start_callback)
        elif self.active:  # resume the paused episode at the step it stood at
            held, self.held = self.held, None
            if held is not None:
                self.executed_callback(held)
            else:
                self._send(self.last_obs)
        else:
            self.try_start()
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.stepping = False
        self.get_logger().info("paused" + (f" at episode {self.episode} step "
                                           f"{self.last_obs.step}" if self.active else ""))
        return super().on_deactivate(state)

    @transition
    def on_cleanup(self, state) -> TransitionCallbackReturn:
        """Undo configure, so a later configure starts from a new scene: a paused episode ends
        as failed (its goal aborted), the simulator closes, configure's publishers,
        subscriptions, timers and service go."""
        if self.active:
            self.end_episode(EpisodeEvent.FAILED, "simulator cleaned up",
                             self.last_obs.step if self.last_obs else 0)
        if self.goal is not None:  # a goal waiting at the gate: no simulator to run it on
            self.goal.cancelled = True
            self.complete_goal(aborted=True)
        for timer in (self.watchdog_timer, self.start_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self.start_timer, self.connected, self.held = None, False, None
        self.destroy_service(self.reset_srv)
        for sub in (self.executed_sub, self.event_sub, self.status_sub):
            self.destroy_subscription(sub)
        for pub in (self.observation_pub, self.image_pub, self.joint_pub, self.poses_pub,
                    self.event_pub, self.diagnostics_pub, *self.perception_pubs):
            self.destroy_publisher(pub)
        self.robot_destroy()
        self.frames.destroy()
        self._close()
        return SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._close()
        return SUCCESS

    def _close(self) -> None:
        if getattr(self, "rig", None) is not None:
            self.rig.close()
            self.rig = None
        if self.env is not None:
            self.env.close()
            self.env = None

    def apply_parameter(self, name: str, value) -> None:
        """pace, action_timeout_s, max_action_retries at run time."""
        if name == "pace":
            self.gate.pace = EpisodeGate(value).pace
            if not self.active:
                self.try_start()  # a simulator waiting under "episode" goes on under "free"
        elif name == "action_timeout_s":
            self.lockstep.timeout_s = float(value)
        elif name == "max_action_retries":
            self.lockstep.max_retries = int(value)

    def publish_event(self, event: int, reason: str, steps: int) -> None:
        msg = EpisodeEvent(run_id=self.run_id, episode=self.episode, task=self.params.task,
                           seed=self.seed, evaluation=self.evaluation, event=event,
                           reason=reason, steps=steps)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = topics.WORLD_FRAME
        self.event_pub.publish(msg)

    def publish_observation(self, obs) -> None:
        stamp = self.get_clock().now().to_msg()
        obs_msg = observation_to_msg(obs, stamp=stamp, episode=self.episode,
                                     task=self.params.task, seed=self.seed,
                                     evaluation=self.evaluation, run_id=self.run_id)
        self.last_obs = obs_msg
        if self.rig is not None:  # the perception camera's images of this very state
            depth, labels = self.rig.render()
            frame = topics.PERCEPTION_CAMERA_FRAME
            self.perception_msgs = (plane_to_msg(depth, DEPTH_ENCODING, stamp, frame),
                                    plane_to_msg(labels, LABELS_ENCODING, stamp, frame))
        self._send(obs_msg)
        # Visualisation only: no serialisation on the lock-step path when nobody looks (the
        # robot interface publishes both topics with every observation).
        if not self.robot and obs.wrist_rgb is not None and self.image_pub.get_subscription_count():
            self.image_pub.publish(obs_msg.wrist_image)
        if not self.robot and self.joint_pub.get_subscription_count():
            self.joint_pub.publish(joint_state_msg(obs_msg))
        if self.poses_pub.get_subscription_count():
            self.poses_pub.publish(object_poses_msg(obs_msg))
        self.frames.publish(stamp)  # TF and camera_info, each only while subscribed

    def _send(self, obs_msg) -> None:
        if self.rig is not None:  # a republished observation comes with its images again
            for pub, msg in zip(self.perception_pubs, self.perception_msgs):
                pub.publish(msg)
        self.observation_pub.publish(obs_msg)
        if self.robot:
            self.robot_send(obs_msg)
        self.lockstep.expect(step_key(obs_msg), self.now())

    def publish_diagnostics(self) -> None:
        g = self.gate
        values = {"episode": self.episode, "episodes_done": self.episodes_done,
                  "pace": self.params.pace, "waiting_for_learner": g.waiting,
                  "wait_s": round(self.now() - g.waiting_since, 2) if g.waiting else 0.0,
                  "total_wait_s": round(g.total_wait_s, 2),
                  "learner_gradient_steps": g.gradient_steps,
                  "learner_target_steps": g.target_steps,
                  "ignored_actions": self.lockstep.ignored}
        message = ("waiting for the learner" if g.waiting else "finished" if self.finished
                   else "paused" if not self.stepping else "stepping" if self.active
                   else "idle")
        self.diagnostics_pub.publish(diagnostics(
            self, f"iteach_ros/sim_bridge{self.get_namespace().rstrip('/')}",
            DiagnosticStatus.OK, message, values))

    # ---- callbacks ---------------------------------------------------------------------------
    def status_callback(self, msg) -> None:
        self.gate.update(msg.last_episode, msg.ready, msg.gradient_steps, msg.target_steps,
                         msg.run_id)
        if not self.active:
            self.try_start()

    def other_event_callback(self, msg) -> None:
        """An event of another run, newer than this simulator: a second graph on this domain
        (a restarted simulator's predecessor publishes nothing new)."""
        if msg.run_id == self.run_id or self.exit_code:
            return
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        if stamp <= self.started_at.seconds_nanoseconds():
            return  # history of an earlier run, replayed to a late joiner
        self.get_logger().error(
            f"another simulator (run {msg.run_id:016x}) publishes on "
            f"{self.event_sub.topic_name}: two graphs on one ROS domain would mix their "
            f"episodes; give each its own ROS_DOMAIN_ID or namespace. Stopping.")
        self.exit_code, self.finished, self.active = 1, True, False

    def refuse(self, msg, reason: str) -> None:
        self.get_logger().error(
            f"refused on {self.executed_sub.topic_name} (publishers: "
            f"{publishers_of(self, self.executed_sub.topic_name)}), run {msg.run_id:016x} "
            f"episode {msg.episode} step {msg.step}: {reason}", throttle_duration_sec=1.0)

    def executed_callback(self, msg: Action) -> None:
        if msg.run_id != self.run_id:
            self.lockstep.ignored += 1  # another run's (a predecessor's) action
            return
        if not self.active or not self.lockstep.is_awaited(step_key(msg)):
            self.get_logger().debug(f"ignored action for episode {msg.episode} step {msg.step}")
            return
        if msg.source != Action.SOURCE_EXECUTED:
            self.refuse(msg, f"source {msg.source}: only the arbiter's decisions "
                        f"(SOURCE_EXECUTED) run")
            return
        if msg.error and msg.episode_failed:  # the arbiter: this episode cannot go on
            self.get_logger().error(f"episode {self.episode} step {msg.step}: {msg.error}")
            self.lockstep.accepted()
            self.end_episode(EpisodeEvent.FAILED, msg.error, msg.step)
            return
        if msg.error:
            self.refuse(msg, f"carries an error: {msg.error}")
            return
        try:  # refused, never clipped: the step awaits a valid action
            values = check_action(msg.values, self.env.action_dim, "executed action")
        except InvalidData as exc:
            self.refuse(msg, str(exc))
            return
        if not self.stepping:  # paused: the step waits for activation
            self.held = msg
            return
        obs, _, terminated, truncated, info = self.env.step(values)
        self.lockstep.accepted()
        end = episode_end(info, terminated, truncated)
        if end is None:
            self.publish_observation(obs)
        elif end[0]:
            self.end_episode(EpisodeEvent.SUCCEEDED, "", info["step"])
        else:
            self.end_episode(EpisodeEvent.FAILED, end[1], info["step"])

    def watchdog_callback(self) -> None:
        if not self.stepping:
            return
        if not self.active:
            self.try_start()  # reports the wait
            return
        timeout = self.lockstep.poll(self.now())
        if timeout is None:
            return
        step = timeout.key[2]
        if timeout.give_up:
            self.get_logger().error(f"episode {self.episode} step {step}: no executed action "
                                    f"after {self.params.max_action_retries} retries; failing")
            self.end_episode(EpisodeEvent.FAILED, f"no executed action for step {step}", step)
            return
        self.get_logger().warn(f"episode {self.episode} step {step}: no executed action within "
                               f"{self.params.action_timeout_s:.1f} s; republishing "
                               f"(retry {timeout.retry}/{self.params.max_action_retries})")
        self._send(self.last_obs)

    def reset_callback(self, request, response):
        if request.task and request.task != self.params.task:
            response.success = False
            response.message = (f"this bridge runs {self.params.task!r}; another task needs a "
                                f"restart with task:={request.task}")
            return response
        seed = int(request.seed) if request.use_seed else self.seed + 1
        if self.active:
            self.active = False
            self.lockstep.stop()
            self.publish_event(EpisodeEvent.FAILED, "reset requested",
                               self.last_obs.step if self.last_obs else 0)
        self.begin_episode(seed, self.params.evaluation)
        response.success, response.episode, response.seed = True, self.episode, seed
        response.run_id = self.run_id
        response.message = f"episode {self.episode} started with seed {seed}"
        self.get_logger().info(f"reset requested: {response.message}")
        return response


def spin_until_done(node: SimBridgeNode, executor) -> int:
    spin_loop(executor, until=lambda: node.finished)
    if node.exit_code:
        return node.exit_code
    if node.finished:
        node.get_logger().info(f"{node.episodes_done} episodes done; "
                               f"{node.lockstep.ignored} stale actions ignored; waited "
                               f"{node.gate.total_wait_s:.1f} s for the learner")
        # Linger so late subscribers still get the last events before the node goes.
        end = time.monotonic() + 1.0
        spin_loop(executor, until=lambda: time.monotonic() >= end)
    return 0


def main(args=None) -> int:
    return run_node("sim_bridge", SimBridgeNode, args, spin=spin_until_done,
                    finish=SimBridgeNode._close)


if __name__ == "__main__":
    sys.exit(main())
