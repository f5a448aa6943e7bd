"""The node graph in one place: which nodes exist, their parameters (default, description, range
or choices, whether they can change at run time), the launch arguments and which parameters
they set. The nodes declare their parameters from here (``node_support.declare_from_graph``,
with ROS ``ParameterDescriptor``s), the launch file (launch/iteach.launch.py) and the pip
launcher (iteach_ros.ros.launcher) build the graph from here, config/iteach.yaml is checked
against it by the tests, and the parameter table of docs/topics.md is generated from it
(``parameter_table``).

ROS-free on purpose (no rclpy import), so launch files can read it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iteach_ros.core import ACTION_DIMS, CONTROL_HZ, SANDBOXES
from iteach_ros.interaction.pace import PACES
from iteach_ros.learning.arbiter import MODES as FEEDBACK_MODES
from iteach_ros.learning.precision import PRECISIONS

PACKAGE = "iteach_ros"
SEED_MAX = 2**31 - 1
# Pipeline k's simulator draws its episodes from seed + k * PIPELINE_SEED_STRIDE: pipelines never
# repeat each other's episodes, and the stride is above every range the experiment runner uses.
PIPELINE_SEED_STRIDE = 10_000_000


@dataclass(frozen=True)
class Param:
    default: object  # its type is the parameter's type (a list: string array)
    doc: str
    range: tuple | None = None  # (low, high) or (low, high, step), inclusive
    choices: tuple[str, ...] = ()
    dynamic: bool = False  # may change at run time (ros2 param set); else read-only

    def check(self, name: str, value) -> None:
        """ValueError naming the parameter when ``value`` is outside its range or choices."""
        if self.choices and value not in self.choices:
            raise ValueError(f"{name} must be one of {list(self.choices)}, got {value!r}")
        if self.range is not None:
            low, high = self.range[:2]
            step = self.range[2] if len(self.range) > 2 else None
            if not low <= value <= high or (step and (value - low) % step):
                every = f" in steps of {step}" if step else ""
                raise ValueError(f"{name} must be within [{low}, {high}]{every}, got {value!r}")


@dataclass(frozen=True)
class NodeSpec:
    name: str  # node name, also the executable name under lib/iteach_ros
    module: str  # python -m target with a main(args=None)
    parameters: dict = field(default_factory=dict)  # name -> Param
    per_pipeline: bool = True  # one per pipeline namespace (False: one for the whole graph)
    started_by: str = ""  # a boolean launch argument that starts it ('': always started)
    doc: str = ""

    def defaults(self) -> dict:
        return {name: p.default for name, p in self.parameters.items()}


EXECUTORS = ("events", "single_threaded")
# Parameters shared by several nodes are listed for each: a node declares only its own.
PROCESS_PARAMETERS = {  # every graph node's, about its process
    "executor": Param("events", "executor: rclpy's C++ EventsExecutor, or the Python "
                      "SingleThreadedExecutor", choices=EXECUTORS),
}
# The action space, the same for every node that reads or writes an action.
ACTION_MODE = {"action_mode": Param("4d", "action space: 4d (dx, dy, dz, gripper: the paper's) | "
                                    "7d (+ droll, dpitch, dyaw: open question 1)",
                                    choices=tuple(sorted(ACTION_DIMS)))}
NODES: tuple[NodeSpec, ...] = (
    NodeSpec("sim_bridge", "iteach_ros.ros.sim_bridge_node", {
        **PROCESS_PARAMETERS,
        **ACTION_MODE,
        "task": Param("push_button", "task name (iteach_ros.sim.TASKS)"),
        "backend": Param("mujoco", "simulator backend", choices=("mujoco", "rlbench")),
        "seed": Param(0, "first training episode's seed; episode i uses seed + i (pipeline k "
                      f"adds k x {PIPELINE_SEED_STRIDE})", (0, SEED_MAX)),
        "pipeline_index": Param(0, "this pipeline's index (set by the launchers): its seed "
                                "range", (0, 100)),
        "episodes": Param(0, "training episodes, then the node exits (0: no schedule; it "
                          "serves the run_episodes action until stopped)", (0, 10_000_000)),
        "evaluation": Param(False, "every episode an evaluation episode: the learner acts "
                            "alone, no teacher, no feedback"),
        "progress_every": Param(0, "after every N training episodes (0: never) ...",
                                (0, 10_000_000)),
        "progress_episodes": Param(10, "... this many evaluation episodes ...", (0, 100_000)),
        "progress_seed": Param(800000, "... on the seeds from this one (the same at every "
                               "check)", (0, SEED_MAX)),
        "max_steps": Param(0, "per-episode step limit (0: the task's)", (0, 1_000_000)),
        "render_wrist": Param(True, "render the wrist camera (the learner needs it)"),
        "image_size": Param(128, "wrist camera side, pixels", (16, 1024, 16)),
        "action_timeout_s": Param(10.0, "no executed action within this: reported, the "
                                  "observation republished", (0.01, 3600.0), dynamic=True),
        "max_action_retries": Param(3, "republications before the episode fails",
                                    (0, 100_000), dynamic=True),
        "autostart": Param(True, "configure and activate at start (false: a lifecycle "
                           "manager or ros2 lifecycle set does)"),
        "start_delay_s": Param(1.0, "at least this long before the first observation ...",
                               (0.0, 3600.0)),
        "min_subscribers": Param(2, "... and until this many observe (teacher, learner) and an "
                                 "arbiter is up", (0, 100)),
        "pace": Param("episode", "episode: each episode waits for the learner's training "
                      "(training_status); free: never waits", choices=PACES,
                      dynamic=True),
        "perception_camera": Param(False, "also publish the over-shoulder camera's depth, "
                                   "instance labels and camera_info with each observation, for "
                                   "the perception node (its pose on tf_static)"),
        "command_interface": Param("project", "what it steps on: project (the arbiter's "
                                   "executed_action) | robot (the robot contract: ee_twist + "
                                   "gripper_command from a policy node)",
                                   choices=("project", "robot")),
        "policy_reset_service": Param("reset_policy", "robot interface: std_srvs/Trigger "
                                      "called before each episode ('' = none)"),
        "workspace_low": Param([-1.0, -1.0, -0.1], "robot interface: the tool point's box, "
                               "lower corner (world frame, m)"),
        "workspace_high": Param([1.5, 1.0, 1.5], "robot interface: the box's upper corner"),
    }, doc="owns the simulator; publishes observations, steps on executed actions"),
    NodeSpec("teacher", "iteach_ros.ros.teacher_node", {
        **PROCESS_PARAMETERS,
        **ACTION_MODE,
        "task": Param("push_button", "task name (iteach_ros.sim.TASKS)"),
        "policy_source": Param("auto", "the CodePolicy: auto (the LLM-written one: cached, "
                               "else shipped; the reference only where neither exists), cache, "
                               "generate (the user's cache, else written now by the LLM), "
                               "reference, or a path to a CodePolicy .py file (change it with "
                               "the generate_policy service)"),
        "llm_config": Param("", "YAML with LLMConfig keys for generation ('': the offline "
                            "default model)"),
        "sandbox": Param(SANDBOXES[0], "where a generated or file CodePolicy runs: worker (a "
                         "sandbox process under kernel limits and a wall clock; a dead worker "
                         "fails its episode, the next gets a fresh one) | in_process (the "
                         "in-process guards alone: faster, for programs you have read); the "
                         "reference runs in process", choices=SANDBOXES),
        "perceived_objects": Param(False, "the CodePolicy reads the perception node's "
                                   "perceived_objects instead of the observation's privileged "
                                   "objects (each step waits for the estimate at its stamp)"),
    }, doc="runs the CodePolicy on each observation; publishes its source (latched)"),
    NodeSpec("perception", "iteach_ros.ros.perception_node", {
        **PROCESS_PARAMETERS,
        "task": Param("push_button", "task name: which objects the labels name and which "
                      "need a normal"),
    }, started_by="perception",
        doc="depth + instance labels of a calibrated camera -> perceived object states"),
    NodeSpec("arbiter", "iteach_ros.ros.arbiter_node", {
        **PROCESS_PARAMETERS,
        **ACTION_MODE,
        "beta_deg": Param(20.0, "angle threshold, degrees (paper: 20)", (0.0, 180.0),
                          dynamic=True),
        "mode": Param("both", "feedback mode (ablations)", choices=FEEDBACK_MODES,
                      dynamic=True),
        "gripper_must_agree": Param(True, "a gripper command of the other sign is corrected "
                                    "even when the translations agree", dynamic=True),
    }, doc="pairs agent and teacher actions; publishes executed action, feedback, markers"),
    NodeSpec("learner", "iteach_ros.ros.learner_node", {
        **PROCESS_PARAMETERS,
        **ACTION_MODE,
        "autostart": Param(True, "configure and activate at start (false: a lifecycle "
                           "manager or ros2 lifecycle set does)"),
        "pipelines": Param([""], "namespaces of the pipelines it serves, relative ('' = its "
                           "own)"),
        "train": Param(True, "gradient steps in a background thread (false: weights frozen)",
                       dynamic=True),
        "collect": Param(True, "store labelled episodes in the replay buffer (false: "
                         "evaluation)"),
        "checkpoint_dir": Param("", "resume from / save to this folder ('' = no persistence)"),
        "batch_size": Param(8, "trajectories per gradient step", (1, 1024)),
        "sequence_length": Param(150, "steps per training sequence", (1, 100_000)),
        "sequence_mode": Param("window", "window (pad / crop, real time) | resample (paper)",
                               choices=("window", "resample")),
        "lr": Param(3e-4, "Adam learning rate", (1e-8, 1.0)),
        "image_size": Param(128, "wrist image side the policy takes, pixels", (16, 1024, 16)),
        "warm_start_checkpoint": Param("", "policy checkpoint to start from"),
        "demonstrations": Param("", "warm-start demonstrations (ReplayBuffer .npz), kept for "
                                "the whole run"),
        "warm_steps": Param(200, "gradient steps on the demonstrations before the first "
                            "episode", (0, 10_000_000)),
        "steps_per_episode": Param(4, "then at least this many per stored episode (pace "
                                   "episode)", (0, 100_000), dynamic=True),
        "seed": Param(0, "initial weights and batch sampling", (0, SEED_MAX)),
        "torch_threads": Param(1, "torch threads (the graph's processes share the cores; 0: "
                               "torch's default)", (0, 256)),
        "precision": Param("auto", "image encoder's number format: auto (bf16 where the CPU has "
                           "AMX, else fp32) | fp32 | bf16", choices=PRECISIONS),
    }, per_pipeline=False, doc="policy inference, replay buffer, concurrent training"),
)
NODE_BY_NAME = {n.name: n for n in NODES}

RECORDER = NodeSpec("recorder", "iteach_ros.ros.recorder_node", {
    "output": Param("", "bag path ('' = bags/iteach_<timestamp>)"),
    "namespaces": Param([""], "pipelines whose topics are recorded"),
    "topics": Param([""], "extra topics, 'name' or 'name:pkg/msg/Type'"),
}, per_pipeline=False, doc="writes every graph topic to MCAP")

# Deployment: a trained policy on the robot contract (ros/robot_contract.py), not part of the
# training graph; config/iteach.yaml holds its defaults with the others.
POLICY = NodeSpec("policy", "iteach_ros.ros.policy_node", {
    **PROCESS_PARAMETERS,
    "checkpoint": Param("", "policy checkpoint (the learner's checkpoint.pt or a runner's "
                        "policy file); required"),
    "base_frame": Param("world", "frame_id of the twist commands: the robot's base frame"),
    "arm_joints": Param(["panda_joint1", "panda_joint2", "panda_joint3", "panda_joint4",
                         "panda_joint5", "panda_joint6", "panda_joint7"],
                        "joint_states names of the arm's joints, in the learner's order"),
    "finger_joints": Param(["panda_finger_joint1"], "joint_states names of the fingers (one: "
                           "it counts for both); the gripper command's names"),
    "control_period_s": Param(1.0 / CONTROL_HZ, "control period: a step slower than this is "
                              "warned about", (0.001, 10.0)),
    "stale_after_s": Param(0.25, "inputs older than this stop the arm (zero twist)",
                           (0.001, 60.0), dynamic=True),
    "sync_tolerance_s": Param(0.0, "largest stamp difference of an image and a joint state "
                              "acted on together (0: equal stamps, one clock)", (0.0, 1.0)),
    "input_qos": Param("sensor_data", "inputs' QoS: sensor_data (best effort) | reliable",
                       choices=("sensor_data", "reliable")),
    "velocity_scale": Param(1.0, "scales every commanded velocity (1: the paper's 1 cm per "
                            "step)", (0.01, 2.0), dynamic=True),
    "max_linear_speed": Param(0.5, "cap on the commanded speed, m/s", (0.001, 5.0),
                              dynamic=True),
    "torch_threads": Param(1, "torch threads (0: torch's default)", (0, 256)),
}, per_pipeline=False, doc="a trained policy on the robot contract, with latency diagnostics")
STANDALONE = (RECORDER, POLICY)  # nodes outside the training graph


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    doc: str
    sets: tuple[tuple[str, str], ...]  # (node, parameter) pairs it overrides

    @property
    def param(self) -> Param:
        node, name = self.sets[0]
        return NODE_BY_NAME[node].parameters[name]

    @property
    def default(self) -> str:
        """The parameter's default as launch-argument text (what --show-args shows)."""
        return to_text(self.param.default)


# A launch argument overrides config/iteach.yaml (or the params_file given) only when its value
# differs from the package default.
LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("task", "task name", (("sim_bridge", "task"), ("teacher", "task"),
                                         ("perception", "task"))),
    LaunchArgument("beta", "arbiter angle threshold, degrees", (("arbiter", "beta_deg"),)),
    LaunchArgument("mode", "feedback mode: both | corrective_only | evaluative_only",
                   (("arbiter", "mode"),)),
    LaunchArgument("evaluation", "evaluation episodes only: the learner acts alone (with "
                   "train:=false, frozen)", (("sim_bridge", "evaluation"),)),
    LaunchArgument("backend", "simulator backend: mujoco | rlbench",
                   (("sim_bridge", "backend"),)),
    LaunchArgument("episodes", "training episodes per pipeline (0: until stopped)",
                   (("sim_bridge", "episodes"),)),
    LaunchArgument("seed", "first seed", (("sim_bridge", "seed"),)),
    LaunchArgument("policy_source", "teacher CodePolicy: auto | cache | generate | reference | "
                   "a .py file", (("teacher", "policy_source"),)),
    LaunchArgument("sandbox", "where the teacher runs a generated or file CodePolicy: worker "
                   "| in_process", (("teacher", "sandbox"),)),
    LaunchArgument("checkpoint_dir", "learner checkpoints", (("learner", "checkpoint_dir"),)),
    LaunchArgument("warm_start", "policy checkpoint to start the learner from (a BC warm "
                   "start from the experiment runner)", (("learner", "warm_start_checkpoint"),)),
    LaunchArgument("executor", "executor of every node: events | single_threaded",
                   tuple((node, "executor") for node in ("sim_bridge", "teacher", "arbiter",
                                                          "learner"))),
    LaunchArgument("train", "learner trains and collects (true) or only acts (false: "
                   "evaluation)", (("learner", "train"), ("learner", "collect"))),
    LaunchArgument("pace", "episode: each episode waits for the learner's training | free",
                   (("sim_bridge", "pace"),)),
    LaunchArgument("action_mode", "action space of every node: 4d | 7d (rotations too)",
                   tuple((node, "action_mode") for node in ("sim_bridge", "teacher", "arbiter",
                                                             "learner"))),
    LaunchArgument("perception", "the teacher reads object states from the perception node "
                   "(camera depth + labels) instead of the simulator's (open question 3)",
                   (("sim_bridge", "perception_camera"), ("teacher", "perceived_objects"))),
    LaunchArgument("demonstrations", "warm-start demonstrations for the learner (a "
                   "ReplayBuffer file from the experiment runner)",
                   (("learner", "demonstrations"),)),
)
# Arguments that shape the graph rather than set a parameter.
GRAPH_ARGUMENTS = {
    "pipelines": ("1", "number of sim_bridge+teacher+arbiter pipelines (namespaces pipe0..)"),
    "record": ("false", "record every topic to MCAP"),
    "params_file": ("", "YAML parameters file (default: the package's config/iteach.yaml)"),
}


def pipeline_namespaces(count: int) -> list[str]:
    """One pipeline runs in the launch's own namespace; several get pipe0, pipe1, ... (relative:
    an including launch file's namespace applies)."""
    if count < 1:
        raise ValueError(f"need at least one pipeline, got {count}")
    return [""] if count == 1 else [f"pipe{i}" for i in range(count)]


def started_nodes(arguments: dict[str, str]) -> tuple[NodeSpec, ...]:
    """The graph's nodes that these launch-argument values start."""
    return tuple(spec for spec in NODES
                 if not spec.started_by or coerce(False, arguments.get(spec.started_by)
                                                  or "false"))


def to_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


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
    """Given launch-argument values -> {node: {parameter: typed value}} for the nodes they set
    (an argument at its default sets nothing: the YAML stands). Bad values: ValueError naming
    the argument."""
    out: dict[str, dict] = {}
    for arg in LAUNCH_ARGUMENTS:
        text = arguments.get(arg.name, "")
        if text in ("", arg.default):
            continue
        for node, name in arg.sets:
            param = NODE_BY_NAME[node].parameters[name]
            try:
                value = coerce(param.default, text)
                param.check(name, value)
            except ValueError as exc:
                raise ValueError(f"launch argument {arg.name}:={text}: {exc}") from None
            out.setdefault(node, {})[name] = value
    return out


TABLE_BEGIN = "<!-- parameters: generated by python -m iteach_ros.ros.graph -->"
TABLE_END = "<!-- parameters: end -->"


def parameter_table() -> str:
    """Every node's parameters as a Markdown table (docs/topics.md's, generated from here)."""
    lines = ["| node | parameter | default | range / choices | at run time | what it is |",
             "|---|---|---|---|---|---|"]
    for spec in NODES + STANDALONE:
        for name, p in spec.parameters.items():
            allowed = (" \\| ".join(p.choices) if p.choices else
                       "" if p.range is None else
                       f"[{p.range[0]}, {p.range[1]}]" + (f" step {p.range[2]}"
                                                          if len(p.range) > 2 else ""))
            default = f"`{p.default!r}`" if p.default != "" else "`''`"
            lines.append(f"| {spec.name} | `{name}` | {default} | {allowed} | "
                         f"{'yes' if p.dynamic else 'read-only'} | "
                         f"{p.doc.replace('|', chr(92) + '|')} |")
    return "\n".join(lines)


def parameter_doc():
    """The documentation file that holds the parameter table."""
    from iteach_ros.readme_blocks import DOCS

    return DOCS / "topics.md"


def with_parameter_table(text: str) -> str:
    from iteach_ros.readme_blocks import replace_block

    return replace_block(text, TABLE_BEGIN, TABLE_END, parameter_table())


def main(argv=None) -> int:
    """Rewrite docs/topics.md's parameter table (``--check``: exit 1 when it is out of step)."""
    from iteach_ros.readme_blocks import sync

    return sync([(parameter_doc(), with_parameter_table)], main.__doc__, argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
