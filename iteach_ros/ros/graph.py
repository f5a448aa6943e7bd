"""The node graph in one place: which nodes exist, their parameters with defaults, the launch
arguments and which parameters they set. The nodes declare their parameters from here, the
launch file (launch/iteach.launch.py) and the pip launcher (iteach_ros.ros.launcher) build the
graph from here, and config/iteach.yaml is checked against it by the tests.

ROS-free on purpose (no rclpy import), so launch files can read it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PACKAGE = "iteach_ros"


@dataclass(frozen=True)
class NodeSpec:
    name: str  # node name, also the executable name under lib/iteach_ros
    module: str  # python -m target with a main(args=None)
    parameters: dict = field(default_factory=dict)  # name -> default (type given by default)
    per_pipeline: bool = True  # one per pipeline namespace (False: one for the whole graph)
    doc: str = ""


# Parameters shared by several nodes are listed for each: a node declares only its own.
PROCESS_PARAMETERS = {  # every graph node's, about its process
    "executor": "events",  # events (rclpy's C++ EventsExecutor) | single_threaded
}
NODES: tuple[NodeSpec, ...] = (
    NodeSpec("sim_bridge", "iteach_ros.ros.sim_bridge_node", {
        **PROCESS_PARAMETERS,
        "task": "push_button",  # task name (iteach_ros.sim.TASKS)
        "backend": "mujoco",  # mujoco | rlbench
        "seed": 0,  # first episode's seed; episode i uses seed + i
        "episodes": 0,  # episodes to run, then idle (0: run until stopped)
        "max_steps": 0,  # per-episode step limit (0: the task's)
        "render_wrist": True,  # publish the wrist camera (the learner needs it)
        "image_size": 128,  # wrist camera side, pixels
        "action_timeout_s": 10.0,  # no executed action within this: reported, then retried
        "max_action_retries": 3,  # retries (republishing the observation) before failing
        "autostart": True,  # start the first episode without a reset request
        "start_delay_s": 1.0,  # at least this long before the first observation ...
        "min_subscribers": 2,  # ... until this many observe (teacher, learner) and an arbiter is up
    }, doc="owns the simulator; publishes observations, steps on executed actions"),
    NodeSpec("teacher", "iteach_ros.ros.teacher_node", {
        **PROCESS_PARAMETERS,
        "task": "push_button",
        "policy_source": "reference",  # reference | cache | path to a CodePolicy .py file
    }, doc="runs the CodePolicy on each observation; publishes its source (latched)"),
    NodeSpec("arbiter", "iteach_ros.ros.arbiter_node", {
        **PROCESS_PARAMETERS,
        "beta_deg": 20.0,  # angle threshold, degrees (paper: 20)
        "mode": "both",  # both | corrective_only | evaluative_only | agent_only (evaluation)
        "gripper_must_agree": True,
    }, doc="pairs agent and teacher actions; publishes executed action, feedback, markers"),
    NodeSpec("learner", "iteach_ros.ros.learner_node", {
        **PROCESS_PARAMETERS,
        "pipelines": [""],  # namespaces of the pipelines it serves ("" = its own)
        "train": True,  # False: inference only (evaluation)
        "checkpoint_dir": "",  # resume from / save to here ("" = no persistence)
        "batch_size": 8,
        "sequence_length": 150,
        "image_size": 128,
        "warm_start_checkpoint": "",  # optional policy checkpoint to start from
        "seed": 0,
        "torch_threads": 1,  # the graph's processes share the cores: no thread oversubscription
    }, per_pipeline=False, doc="policy inference, replay buffer, concurrent training"),
)
NODE_BY_NAME = {n.name: n for n in NODES}

RECORDER = NodeSpec("recorder", "iteach_ros.ros.recorder_node", {
    "output": "",  # bag path ("" = bags/iteach_<timestamp>)
    "namespaces": [""],  # pipelines whose topics are recorded
    "topics": [""],  # extra topics, "name" or "name:pkg/msg/Type"
}, per_pipeline=False, doc="writes every graph topic to MCAP")


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    doc: str
    sets: tuple[tuple[str, str], ...]  # (node, parameter) pairs it overrides


# Empty defaults: a launch argument overrides config/iteach.yaml only when it is given.
LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("task", "", "task name", (("sim_bridge", "task"), ("teacher", "task"))),
    LaunchArgument("beta", "", "arbiter angle threshold, degrees", (("arbiter", "beta_deg"),)),
    LaunchArgument("mode", "", "feedback mode: both | corrective_only | evaluative_only | "
                   "agent_only", (("arbiter", "mode"),)),
    LaunchArgument("backend", "", "simulator backend: mujoco | rlbench",
                   (("sim_bridge", "backend"),)),
    LaunchArgument("episodes", "", "episodes per pipeline (0: until stopped)",
                   (("sim_bridge", "episodes"),)),
    LaunchArgument("seed", "", "first seed", (("sim_bridge", "seed"),)),
    LaunchArgument("policy_source", "", "teacher CodePolicy: reference | cache | a .py file",
                   (("teacher", "policy_source"),)),
    LaunchArgument("checkpoint_dir", "", "learner checkpoints", (("learner", "checkpoint_dir"),)),
    LaunchArgument("warm_start", "", "policy checkpoint to start the learner from (a BC warm "
                   "start from the experiment runner)", (("learner", "warm_start_checkpoint"),)),
    LaunchArgument("executor", "", "executor of every node: events | single_threaded",
                   tuple((node, "executor") for node in ("sim_bridge", "teacher", "arbiter",
                                                          "learner"))),
    LaunchArgument("train", "", "learner trains (true) or only acts (false: evaluation)",
                   (("learner", "train"),)),
)
# Arguments that shape the graph rather than set a parameter.
GRAPH_ARGUMENTS = {
    "pipelines": ("1", "number of sim_bridge+teacher+arbiter pipelines (namespaces pipe0..)"),
    "record": ("false", "record every topic to MCAP"),
    "params_file": ("", "YAML parameters file (default: the package's config/iteach.yaml)"),
}


def pipeline_namespaces(count: int) -> list[str]:
    """One pipeline runs in the root namespace; several get /pipe0, /pipe1, ..."""
    if count < 1:
        raise ValueError(f"need at least one pipeline, got {count}")
    return [""] if count == 1 else [f"/pipe{i}" for i in range(count)]


def coerce(default, text: str):
    """A launch-argument string converted to the type of the parameter's default."""
    if isinstance(default, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"expected true/false, got {text!r}")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, list):
        return [s for s in text.split(",") if s] if text else [""]
    return text


def node_overrides(arguments: dict[str, str]) -> dict[str, dict]:
    """Given launch-argument values -> {node: {parameter: typed value}} for the nodes they set."""
    out: dict[str, dict] = {}
    for arg in LAUNCH_ARGUMENTS:
        if not arguments.get(arg.name):
            continue  # not given: the YAML value stands
        for node, param in arg.sets:
            default = NODE_BY_NAME[node].parameters[param]
            out.setdefault(node, {})[param] = coerce(default, arguments[arg.name])
    return out
