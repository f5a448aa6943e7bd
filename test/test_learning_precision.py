"""The learner's encoder precision: auto picks bf16 only on AMX CPUs; bf16 trains, stays close to
fp32 and keeps weights and checkpoints fp32; every entry point validates the setting."""

import numpy as np
import pytest
import torch

from iteach_ros.experiments.config import ProtocolConfig
from iteach_ros.learning import precision
from iteach_ros.learning.policy import CeilingPolicy, PolicyConfig
from iteach_ros.ros.graph import NODE_BY_NAME

SMALL = dict(image_size=32, conv_channels=(4, 8, 8), image_features=32, lstm_hidden=40)


@pytest.mark.parametrize("flags, device, expected", [
    ({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}, "cpu", True),
    ({"avx2", "avx512f", "avx512_bf16"}, "cpu", False),  # no AMX: bf16 is not measured faster
    ({"avx2"}, "cpu", False),  # emulated bf16: measured 0.17x
    ({"amx_bf16"}, "cuda", False),
])
def test_auto_is_bf16_only_on_a_cpu_with_amx(monkeypatch, flags, device, expected):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert precision.encoder_uses_bf16("auto", device) is expected
    assert precision.encoder_uses_bf16("fp32", device) is False
    assert precision.encoder_uses_bf16("bf16", device) is True


def test_an_unknown_precision_is_refused_everywhere():
    for make in (lambda: precision.encoder_uses_bf16("fp16"),
                 lambda: PolicyConfig(precision="fp16"),
                 lambda: ProtocolConfig(precision="half")):
        with pytest.raises(ValueError, match="precision must be one of"):
            make()
    param = NODE_BY_NAME["learner"].parameters["precision"]
    assert param.default == "auto" and set(param.choices) == set(precision.PRECISIONS)
    with pytest.raises(ValueError):
        param.check("precision", "fp16")


def _pair():
    torch.manual_seed(0)
    fp32 = CeilingPolicy(PolicyConfig(precision="fp32", **SMALL))
    bf16 = CeilingPolicy(PolicyConfig(precision="bf16", **SMALL))
    bf16.net.load_state_dict(fp32.net.state_dict())
    return fp32, bf16


def _batch(seed=0, b=2, length=6):
    rng = np.random.default_rng(seed)
    n = b * length
    return (rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
            np.arange(n).reshape(b, length), rng.normal(size=(b, length, 8)).astype(np.float32),
            rng.uniform(-1, 1, (b, length, 4)).astype(np.float32), np.ones((b, length), np.float32))


def test_bf16_encoder_gives_fp32_features_close_to_fp32_and_trains():
    fp32, bf16 = _pair()
    frames = torch.as_tensor(_batch()[0])
    with torch.no_grad():
        ref, out = fp32.net.encode(frames), bf16.net.encode(frames)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert not torch.equal(out, ref)  # it did compute in bf16 ...
    assert (out - ref).abs().max() <= 0.02 * ref.abs().max() + 1e-3  # ... within bf16's error
    opt = torch.optim.Adam(bf16.net.parameters(), lr=1e-2)
    batch = _batch()
    first = None
    for _ in range(30):
        loss, info = bf16.loss(*batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else info["loss"]
        assert np.isfinite(info["loss"])
    assert info["loss"] < first
    assert all(p.dtype == torch.float32 for p in bf16.net.parameters())


def test_precision_travels_with_the_checkpoint_and_old_checkpoints_load():
    _, bf16 = _pair()
    state = bf16.state_dict()
    assert state["config"]["precision"] == "bf16"
    assert all(t.dtype == torch.float32 for t in state["net"].values())
    assert CeilingPolicy.from_state_dict(state).cfg.precision == "bf16"
    del state["config"]["precision"]  # a checkpoint written before the setting existed
    assert CeilingPolicy.from_state_dict(state).cfg.precision == "auto"
