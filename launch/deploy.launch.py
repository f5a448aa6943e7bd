"""Deploy a trained policy on the robot contract (docs/robot_contract.md):

    ros2 launch iteach_ros deploy.launch.py checkpoint:=/path/learner.pt
    ros2 launch iteach_ros deploy.launch.py checkpoint:=/path/learner.pt sim:=true \
        task:=push_button episodes:=20

Without ``sim`` only the ``policy`` node starts: remap its topics onto the robot's drivers
(``wrist_image``, ``joint_states`` in; ``ee_twist``, ``gripper_command`` out) and stop it with
Ctrl-C (its last command is a zero twist). With ``sim:=true`` sim_bridge plays the robot
(``command_interface: robot``) and runs ``episodes`` evaluation episodes; the launch ends when
they are done, or as soon as either node fails.
"""

import os

from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from iteach_ros.ros.graph import PACKAGE, POLICY, coerce
from launch import LaunchDescription

ARGUMENTS = {
    "checkpoint": ("", "the trained policy (a learner checkpoint .pt); required"),
    "sim": ("false", "true: sim_bridge plays the robot through the same contract"),
    "task": ("push_button", "sim: the task"),
    "episodes": ("20", "sim: evaluation episodes, then the launch ends"),
    "seed": ("0", "sim: the first episode's seed"),
    "image_size": ("128", "sim: the camera's side in pixels (the policy's)"),
    "params_file": ("", "YAML parameters (default: the package's config/iteach.yaml)"),
}


def _nodes(context):
    value = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    if not value["checkpoint"]:
        raise RuntimeError("deploy.launch.py needs checkpoint:=/path/to/learner.pt")
    params = value["params_file"]
    if not params:
        from ament_index_python.packages import get_package_share_directory

        params = os.path.join(get_package_share_directory(PACKAGE), "config", "iteach.yaml")
    policy = Node(package=PACKAGE, executable=POLICY.name, name=POLICY.name, output="screen",
                  parameters=[params, {"checkpoint": value["checkpoint"]}])
    if not coerce(False, value["sim"]):
        return [policy]
    sim = Node(package=PACKAGE, executable="sim_bridge", name="sim_bridge", output="screen",
               parameters=[params, {"command_interface": "robot", "evaluation": True,
                                    "task": value["task"], "episodes": int(value["episodes"]),
                                    "seed": int(value["seed"]),
                                    "image_size": int(value["image_size"])}])

    def ended(event, context):
        if context.is_shutdown:
            return None
        reason = (f"{event.action.node_name} exited with {event.returncode}"
                  if event.returncode else "the simulator's episodes are done")
        return [LogInfo(msg=f"[iteach_ros] {reason}: shutting down"),
                EmitEvent(event=Shutdown(reason=reason))]

    return [sim, policy] + [RegisterEventHandler(OnProcessExit(target_action=n, on_exit=ended))
                            for n in (sim, policy)]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=doc)
         for name, (default, doc) in ARGUMENTS.items()] + [OpaqueFunction(function=_nodes)])
