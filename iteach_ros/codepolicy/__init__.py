"""CodePolicy runtime, sandbox and reference programs (ROS-free)."""
