"""LLM-iTeach as a ROS 2 package: interactive imitation learning with an LLM-written teacher.

The generated interfaces (``iteach_ros.msg``, ``iteach_ros.srv``) are installed by CMake; the
hand-written modules may live in another folder on ``sys.path`` (a source checkout). Extending
``__path__`` lets one import find both halves.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
