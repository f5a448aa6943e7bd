"""The runner's step and the graph's step are one step: with the same seeds and the policy's
weights frozen, the in-process loop and the four nodes over DDS produce identical labelled
trajectories (images, proprioception, executed actions, feedback kinds, training flags), in
every feedback mode and in the 7-D action mode."""

import os

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy missing: run scripts/setup.sh")

from iteach_ros.experiments.graph_transport import run_phase  # noqa: E402
from iteach_ros.experiments.protocol import interactive_episode  # noqa: E402
from iteach_ros.interaction.lockstep import AgentStream, TeacherStream  # noqa: E402
from iteach_ros.learning.arbiter import FeedbackArbiter, FeedbackKind  # noqa: E402
from iteach_ros.learning.store import stored_trajectories  # noqa: E402
from iteach_ros.ros.launcher import build_processes  # noqa: E402
from iteach_ros.teacher.service import make_teacher  # noqa: E402

pytestmark = pytest.mark.ros

TASK, SEED, EPISODES, SIZE, MAX_STEPS, LEARNER_SEED = "reach_target", 40, 3, 32, 30, 0


def through_graph(tmp_path, mode: str, beta: float, action_mode: str = "4d"):
    learner_dir = tmp_path / "learner"
    specs = build_processes(
        {"task": TASK, "episodes": str(EPISODES), "seed": str(SEED), "mode": mode,
         "beta": str(beta), "checkpoint_dir": str(learner_dir), "action_mode": action_mode},
        parameters={"sim_bridge": {"image_size": SIZE, "max_steps": MAX_STEPS,
                                   "pace": "episode"},
                    "arbiter": {"gripper_must_agree": False},
                    "learner": {"image_size": SIZE, "seed": LEARNER_SEED, "train": False,
                                "collect": True}})
    rows = run_phase(specs, EPISODES, f"equivalence {mode}", progress=False,
                     env=dict(os.environ))
    return rows, [t for _, t in stored_trajectories(learner_dir)]


def in_one_process(mode: str, beta: float, action_mode: str = "4d"):
    import torch

    from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
    from iteach_ros.sim import make_env

    torch.manual_seed(LEARNER_SEED)  # the learner node's initial weights for its seed
    policy = CeilingPolicy(PolicyConfig(image_size=SIZE, action_dim=int(action_mode[0])))
    agent, teacher = AgentStream(policy.act), TeacherStream(make_teacher(TASK))
    arbiter = FeedbackArbiter(beta, mode, gripper_must_agree=False)
    env = make_env(TASK, image_size=SIZE, max_steps=MAX_STEPS, action_mode=action_mode)
    try:
        return [interactive_episode(env, SEED + i, i + 1, agent, teacher, arbiter, TASK)
                for i in range(EPISODES)]
    finally:
        env.close()


@pytest.mark.parametrize("mode,action_mode", [("both", "4d"), ("corrective_only", "4d"),
                                              ("evaluative_only", "4d"), ("both", "7d")])
def test_runner_and_graph_produce_identical_labelled_trajectories(tmp_path, mode, action_mode):
    beta = 90.0  # an untrained policy then gets both verdicts (its gripper sign aside)
    rows, graph_trajs = through_graph(tmp_path, mode, beta, action_mode)
    local = in_one_process(mode, beta, action_mode)
    assert len(graph_trajs) == EPISODES
    assert {g.actions.shape[1] for g in graph_trajs} == {int(action_mode[0])}
    kinds = set()
    for (out, traj), g, row in zip(local, graph_trajs, rows):
        assert g.meta["seed"] == traj.meta["seed"] == row["seed"]
        assert (row["success"], row["steps"]) == (out.success, out.steps)
        for name in ("images", "proprio", "actions", "kinds", "mask"):
            np.testing.assert_array_equal(getattr(g, name), getattr(traj, name), err_msg=name)
        assert row["evaluative_rate"] == pytest.approx(out.stats.rates()[0])
        kinds |= set(traj.kinds.tolist())
    assert FeedbackKind.EVALUATIVE in kinds and kinds - {FeedbackKind.EVALUATIVE}, kinds


def test_corrective_only_through_the_graph_stores_approved_steps_untrained(tmp_path):
    _, trajs = through_graph(tmp_path, "corrective_only", 90.0)
    kinds = np.concatenate([t.kinds for t in trajs])
    mask = np.concatenate([t.mask for t in trajs])
    approved = kinds == FeedbackKind.EVALUATIVE
    assert approved.any() and (~approved).any()
    assert not mask[approved].any()  # approved: weight 0
    assert mask[~approved].all()  # corrected: trained on
