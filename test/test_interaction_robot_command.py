"""The robot contract's command semantics: an action survives the trip to a twist and back,
the platform limits bind, and bad values are refused."""

import numpy as np
import pytest

from iteach_ros.interaction.robot_command import (
    CommandLimits,
    action_to_command,
    command_to_action,
    inside_workspace,
)


def test_the_papers_step_is_a_velocity_and_comes_back_unchanged():
    limits = CommandLimits()
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = np.append(rng.uniform(-1, 1, 3), rng.choice([-1.0, 1.0]))
        c = action_to_command(a, limits, previous_gripper=0.0)
        assert np.linalg.norm(c.linear) <= np.sqrt(3) * 0.2 + 1e-12  # 1 cm per 50 ms
        np.testing.assert_allclose(command_to_action(c.linear, c.angular, c.gripper, limits),
                                   a, rtol=0, atol=1e-12)


def test_seven_d_actions_carry_their_rotation():
    limits = CommandLimits(action_mode="7d")
    a = np.array([0.1, 0.2, -0.3, 0.5, -1.0, 0.25, -1.0])
    c = action_to_command(a, limits, previous_gripper=0.04)
    np.testing.assert_allclose(c.angular, [0.5, -1.0, 0.25])  # 0.05 rad per 50 ms
    assert c.gripper == 0.0
    np.testing.assert_allclose(command_to_action(c.linear, c.angular, c.gripper, limits), a,
                               atol=1e-12)


def test_gripper_zero_keeps_the_last_target():
    limits = CommandLimits()
    assert action_to_command([0, 0, 0, 0.0], limits, 0.0).gripper == 0.0
    assert action_to_command([0, 0, 0, 0.0], limits, 0.04).gripper == 0.04
    assert action_to_command([0, 0, 0, 0.3], limits, 0.0).gripper == limits.gripper_open


def test_velocity_scale_and_speed_cap_bind():
    slow = action_to_command([1, 0, 0, 1], CommandLimits(velocity_scale=0.5), 0.0)
    assert slow.linear[0] == pytest.approx(0.1)
    capped = action_to_command([1, 1, 1, 1], CommandLimits(max_linear_speed=0.1), 0.0)
    assert np.linalg.norm(capped.linear) == pytest.approx(0.1)


def test_the_workspace_wall_cuts_the_outward_component_only():
    limits = CommandLimits(workspace_low=(0.0, 0.0, 0.0), workspace_high=(1.0, 1.0, 1.0))
    v = inside_workspace([0.2, -0.2, 0.2], [0.5, 0.005, 0.5], limits)
    np.testing.assert_allclose(v, [0.2, -0.1, 0.2])  # stops at y = 0 within the period


@pytest.mark.parametrize("values", [[0, 0, 0], [np.nan, 0, 0, 1], [0, 0, np.inf, 1]])
def test_malformed_actions_are_refused(values):
    with pytest.raises(ValueError):
        action_to_command(values, CommandLimits(), 0.0)


def test_malformed_commands_and_limits_are_refused():
    with pytest.raises(ValueError):
        command_to_action([np.nan, 0, 0], [0, 0, 0], 0.04, CommandLimits())
    with pytest.raises(ValueError):
        CommandLimits(workspace_low=(1.0, 0.0, 0.0), workspace_high=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError):
        CommandLimits(period_s=0.0)
