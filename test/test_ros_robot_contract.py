"""A trained policy deployed on the robot contract (the policy node and sim_bridge's robot
interface: standard messages only) reaches the same evaluation result as the learner through
the project's own messages, on the same 20 seeds, episode by episode.

The policy is a BC policy trained here on push_button's teacher demonstrations (32 px camera,
800 gradient steps: about 80 s on 2 cores), good enough to succeed on some seeds and fail on
others, so an agreement is not a tie of zeros."""

import os

import pytest

pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")

from iteach_ros.experiments.config import ProtocolConfig  # noqa: E402
from iteach_ros.experiments.graph_transport import phase_processes, run_phase  # noqa: E402
from iteach_ros.experiments.protocol import run_protocol  # noqa: E402
from iteach_ros.learning.store import CHECKPOINT  # noqa: E402
from iteach_ros.ros.launcher import build_robot_processes  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.expensive]
TASK, SIZE, SEED, EPISODES = "push_button", 32, 700_000, 20


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = ProtocolConfig(task=TASK, method="bc", demos=10, bc_steps=800, image_size=SIZE,
                         eval_episodes=0, seed=0)
    result = run_protocol(cfg, progress=False, log=lambda *_: None)
    learner_dir = tmp_path_factory.mktemp("learner")
    result.trainer.save_checkpoint(learner_dir / CHECKPOINT)
    return cfg, learner_dir


def test_the_deployed_policy_matches_the_project_message_path(trained, tmp_path):
    cfg, learner_dir = trained
    env = dict(os.environ)
    project = run_phase(phase_processes(cfg, learner_dir, seed=SEED, episodes=EPISODES,
                                        interactive=False),
                        EPISODES, "project messages", progress=False, env=env)
    robot = run_phase(build_robot_processes({
        "sim_bridge": {"task": TASK, "episodes": EPISODES, "seed": SEED, "evaluation": True,
                       "image_size": SIZE},
        "policy": {"checkpoint": str(learner_dir / CHECKPOINT), "input_qos": "reliable",
                   "stale_after_s": 2.0}}), EPISODES, "robot contract", progress=False, env=env)
    outcome = {"project": [(r["seed"], r["success"], r["steps"]) for r in project],
               "robot": [(r["seed"], r["success"], r["steps"]) for r in robot]}
    print(outcome)
    assert [o[0] for o in outcome["robot"]] == list(range(SEED, SEED + EPISODES))
    succeeded = sum(o[1] for o in outcome["project"])
    assert 0 < succeeded < EPISODES, outcome  # a policy that tells seeds apart
    assert outcome["robot"] == outcome["project"]
