"""setuptools description of iteach_ros's Python side.

Two ways this package gets installed:
- ROS 2 users build it with colcon (package.xml says ament_cmake): CMake generates the
  interfaces and installs the hand-written modules next to them. colcon ignores this file.
- scripts/setup.sh builds the interfaces into a venv and puts this checkout on sys.path.

`pip install .` (into an environment *without* the CMake-built package) installs the ROS-free
core: simulator, CodePolicy sandbox and teacher, learner and experiment runner. Never pip-install
into a venv where CMake installed iteach_ros: pip would remove the generated interfaces.
"""

from setuptools import find_packages, setup

setup(
    name="iteach_ros",
    version="0.1.0",
    description="LLM-iTeach: interactive imitation learning with an LLM-written CodePolicy teacher",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["iteach_ros", "iteach_ros.*"]),
    package_data={"iteach_ros": ["**/*.xml", "**/*.yaml", "**/*.txt", "**/*.md", "**/*.json",
                                 "codepolicy/reference/*.py", "teacher/prompts/**/*",
                                 "teacher/shipped_policies/**/*", "sim/assets/*.xml"]},
    install_requires=["numpy", "mujoco==4.0.0", "torch==2.13.0", "langchain-core", "pyyaml",
                      "imageio", "matplotlib", "tqdm"],
    extras_require={"llm": ["langchain-openai", "langchain-ollama"]},
    data_files=[("share/iteach_ros", ["package.xml"])],
)
