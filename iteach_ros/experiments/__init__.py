"""Experiment runner: the paper protocol, baselines and ablations in one process (ROS-free)."""
