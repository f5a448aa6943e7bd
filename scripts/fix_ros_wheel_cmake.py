"""Repair the ROS 2 wheels' exported CMake targets so interfaces can be built against the venv.

The `*__rosidl_generator_pyExport.cmake` files shipped in the ros-jazzy-* wheels name the include
directories of the machine that built them (/opt/python/cp311-cp311/...). CMake refuses to
configure a package that depends on those targets until the paths exist, so point them at this
interpreter's include directory and numpy's. Idempotent: rewrites the property every time.
"""

import re
import sys
import sysconfig
from pathlib import Path

import numpy


def main(prefix: str) -> int:
    includes = f"{sysconfig.get_paths()['include']};{numpy.get_include()}"
    pattern = re.compile(r'(INTERFACE_INCLUDE_DIRECTORIES\s+")[^"]*(")')
    changed = 0
    files = sorted(Path(prefix, "share").glob("*/cmake/*__rosidl_generator_pyExport.cmake"))
    for path in files:
        text = path.read_text()
        new = pattern.sub(lambda m: m.group(1) + includes + m.group(2), text)
        if new != text:
            path.write_text(new)
            changed += 1
    print(f"fix_ros_wheel_cmake: {len(files)} export files, {changed} rewritten -> {includes}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else sys.prefix))
