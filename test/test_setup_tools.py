"""The set-up's repair of the ROS wheels' CMake exports, and the package metadata."""

import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OLD_INCLUDES = ("/opt/python/cp311-cp311/include/python3.11;"
                "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include")
BROKEN = f"""set_target_properties(std_msgs::std_msgs__rosidl_generator_py PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "{OLD_INCLUDES}"
  INTERFACE_LINK_LIBRARIES "std_msgs::std_msgs__rosidl_generator_c"
)
"""

def test_wheel_export_repair_is_idempotent(tmp_path):
    export = tmp_path / "share/std_msgs/cmake/export_std_msgs__rosidl_generator_pyExport.cmake"
    export.parent.mkdir(parents=True)
    export.write_text(BROKEN)
    script = ROOT / "scripts/fix_ros_wheel_cmake.py"
    first = subprocess.run([sys.executable, script, tmp_path], capture_output=True, text=True)
    assert "1 rewritten" in first.stdout, first.stdout + first.stderr
    fixed = export.read_text()
    assert "/opt/python" not in fixed
    assert sysconfig.get_paths()["include"] in fixed
    assert 'INTERFACE_LINK_LIBRARIES "std_msgs::std_msgs__rosidl_generator_c"' in fixed
    second = subprocess.run([sys.executable, script, tmp_path], capture_output=True, text=True)
    assert "0 rewritten" in second.stdout and export.read_text() == fixed


def test_package_xml_is_format_3_interface_package():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "iteach_ros"
    assert root.findtext("member_of_group") == "rosidl_interface_packages"
    assert root.find("export/build_type").text == "ament_cmake"


def test_every_interface_file_is_generated():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    files = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("[ms][sr][gv]/*.[ms][sr][gv]"))
    assert files, "no interface files found"
    for f in files:
        assert f'"{f}"' in cmake, f"{f} is not listed in rosidl_generate_interfaces"
