"""Facts every layer shares, ROS-free and MuJoCo-free: the action space, the proprioception,
the wrist camera and the control rate (the paper's, docs/paper.md), and where untrusted
CodePolicies run. ``state``: the object state and the observation the simulator reports;
``tasks``: the tasks' metadata (descriptions, objects, step limits); ``actions``: an action
between the action spaces."""

from __future__ import annotations

CONTROL_HZ = 20  # control steps per second
# "4d": dx, dy, dz, gripper; "7d": dx, dy, dz, droll, dpitch, dyaw, gripper
ACTION_DIMS = {"4d": 4, "7d": 7}
ACTION_DIM = ACTION_DIMS["4d"]  # the paper's action space, the default everywhere
TRANSLATION_STEP_M = 0.01  # action 1.0 moves the tool 1 cm per control step (paper)
ROTATION_STEP_RAD = 0.05  # 7-D mode: action 1.0 rotates 0.05 rad per control step
FINGER_OPEN_M = 0.04  # Panda finger position when open, per finger (the hand strokes 8 cm)
ACTION_BOUND = 1.0  # every action component is normalised to [-1, 1]
PROPRIO_DIM = 8  # 7 arm joint positions (rad) + the gripper opening (m)
IMAGE_SIZE = 128  # wrist camera side, pixels (CEILing's learner input)
# Where LLM-generated and user-supplied CodePolicies run (the first is the default): "worker",
# a sandbox worker process under kernel limits and a wall clock; "in_process", the sandbox's
# in-process guards alone (faster, no second line: for programs one has read).
SANDBOXES = ("worker", "in_process")
