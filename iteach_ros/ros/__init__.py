"""ROS 2 nodes over the ROS-free core: thin wrappers, names and QoS from interfaces.py."""
