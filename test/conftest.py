"""Shared test set-up: keep DDS discovery on this machine and give every run its own domain."""

import os
import random

import pytest

import iteach_ros.sim.rendering  # noqa: F401 - offscreen rendering for this run and its children

# Set before any rclpy context exists (rclpy reads them at init); subprocesses inherit them.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))


@pytest.fixture
def ros_env():
    """Environment for child processes that must join this run's DDS domain."""
    return dict(os.environ)
