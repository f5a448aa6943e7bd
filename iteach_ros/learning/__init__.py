"""Feedback arbiter, replay buffer, CEILing policy and trainer (ROS-free)."""
