"""One row per sample whatever a layer returns: pooling, layouts, dtypes, wrapped models."""

from __future__ import annotations

import json
import warnings
from collections import OrderedDict

import numpy as np
import pyarrow as pa
import pytest
import torch
from torch import nn

import sentrycam
from sentrycam import SentrycamWarning
from sentrycam.capture import pool_output


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        h = self.conv2(self.act1(self.conv1(x)))
        return self.head(h.mean(dim=(2, 3)))


class TokenNet(nn.Module):
    """A two-layer transformer encoder over token ids, batch first."""

    def __init__(self, vocab: int = 20, d: int = 16) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(
            [nn.TransformerEncoderLayer(d, 2, 32, dropout=0.0, batch_first=True) for _ in range(2)]
        )
        self.head = nn.Linear(d, 3)

    def forward(self, tokens):
        h = self.emb(tokens)
        for block in self.blocks:
            h = block(h)
        return self.head(h[:, 0])


def _one_frame_per_layer(cam, step=0):
    cam.step(step)
    frames = cam.frames
    return {f.layer: f for f in frames if f.step == step}


def test_conv_maps_are_averaged_over_positions_by_default():
    torch.manual_seed(0)
    model, x = ConvNet(), torch.randn(12, 3, 6, 6)
    cam = sentrycam.Monitor(model, layers=["act1", "conv2"], probe=x, every=1)
    frames = _one_frame_per_layer(cam)
    with torch.no_grad():
        h1 = torch.relu(model.conv1(x))
        h2 = model.conv2(h1)
    np.testing.assert_allclose(frames["act1"].x, h1.mean(dim=(2, 3)).numpy(), rtol=1e-5)
    np.testing.assert_allclose(frames["conv2"].x, h2.mean(dim=(2, 3)).numpy(), rtol=1e-5)
    assert frames["act1"].shape == (12, 8, 6, 6) and frames["act1"].pool == "mean"
    meta = json.loads(pa.ipc.open_stream(frames["act1"].ipc).schema.metadata[b"sentrycam"])
    assert meta["pool"] == "mean" and meta["shape"] == [12, 8, 6, 6] and meta["d"] == 8
    assert meta["every"] == 1 and meta["projected_from"] is None


def test_token_outputs_are_averaged_over_tokens_and_first_last_pick_one():
    torch.manual_seed(0)
    model, tokens = TokenNet(), torch.randint(0, 20, (10, 7))
    with torch.no_grad():
        h = model.blocks[0](model.emb(tokens))
    expected = {"auto": h.mean(1), "max": h.amax(1), "first": h[:, 0], "last": h[:, -1]}
    for pool, want in expected.items():
        cam = sentrycam.Monitor(model, layers=["blocks.0"], probe=tokens, every=1, pool=pool)
        frame = _one_frame_per_layer(cam)["blocks.0"]
        np.testing.assert_allclose(frame.x, want.numpy(), rtol=1e-4, atol=1e-6)
        assert frame.shape == (10, 7, 16)
    model.eval()  # the probe pass ran in eval mode; a model's own mode is restored


def test_one_dimensional_convolutions_are_channels_first():
    conv = nn.Conv1d(4, 6, 3)
    out = conv(torch.randn(5, 4, 9)).detach()
    pooled = pool_output(out, "auto", conv)
    assert pooled.layout == "channels" and tuple(pooled.rows.shape) == (5, 6)
    bn = nn.BatchNorm1d(6).eval()
    assert pool_output(bn(out), "auto", bn).layout == "channels"
    act = nn.GELU()
    assert (
        pool_output(act(out), "auto", act).layout == "tokens"
    )  # 3-D from anything else: (N, T, D)


def test_five_dimensional_maps_and_flatten():
    x = torch.randn(3, 2, 4, 5, 6)
    assert tuple(pool_output(x, "auto").rows.shape) == (3, 2)
    assert tuple(pool_output(x, "flatten").rows.shape) == (3, 2 * 4 * 5 * 6)
    assert pool_output(torch.randn(3, 5), "auto").method == "none"


def test_sequence_first_recurrent_outputs_are_transposed():
    torch.manual_seed(0)

    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(4, 6)  # batch_first=False: output (T, N, H), then (h, c)

        def forward(self, x):
            out, _ = self.lstm(x.transpose(0, 1))
            return out[-1]

    model, x = Seq(), torch.randn(9, 5, 4)
    frame = _one_frame_per_layer(sentrycam.Monitor(model, layers=["lstm"], probe=x, every=1))[
        "lstm"
    ]
    with torch.no_grad():
        out, _ = model.lstm(x.transpose(0, 1))
    assert frame.shape == (9, 5, 6)
    np.testing.assert_allclose(frame.x, out.transpose(0, 1).mean(1).numpy(), rtol=1e-5)


def test_tuple_and_dict_outputs_use_the_first_tensor_unless_a_callable_picks():
    class Pair(nn.Module):
        def forward(self, x):
            return {"hidden": x * 2, "extra": (x * 3,)}

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pair = Pair()

        def forward(self, x):
            return self.pair(x)["hidden"]

    x = torch.randn(6, 4)
    frames = _one_frame_per_layer(sentrycam.Monitor(Model(), layers=["pair"], probe=x, every=1))
    np.testing.assert_allclose(frames["pair"].x, (x * 2).numpy())
    cam = sentrycam.Monitor(
        Model(), layers=["pair"], probe=x, every=1, pool={"pair": lambda out: out["extra"][0]}
    )
    frame = _one_frame_per_layer(cam)["pair"]
    np.testing.assert_allclose(frame.x, (x * 3).numpy())
    assert frame.pool == "callable"


def test_a_pool_callable_that_raises_or_returns_the_wrong_shape_warns_and_training_goes_on():
    model = nn.Sequential(OrderedDict(fc=nn.Linear(4, 3), act=nn.ReLU()))
    x = torch.randn(8, 4)

    def boom(out):
        raise RuntimeError("no luck")

    for pool, message in [
        (boom, "the pool callable raised RuntimeError: no luck"),
        (lambda out: out[0], r"must return an \(N, d\) array"),
        (lambda out: out[:3], "returned 3 rows for a probe batch of 8"),
    ]:
        cam = sentrycam.Monitor(model, layers=["fc", "act"], probe=x, every=1, pool={"fc": pool})
        with pytest.warns(SentrycamWarning, match=message):
            cam.step(0)
        assert [f.layer for f in cam.frames] == ["act"]
        with pytest.warns(SentrycamWarning, match=message):
            cam.step(1)  # the next capture tries again


def test_bad_pool_arguments_are_value_errors(mlp, probe):
    with pytest.raises(ValueError, match="pool must be one of"):
        sentrycam.Monitor(mlp, layers=["act1"], probe=probe, pool="median")
    with pytest.raises(ValueError, match="not watched"):
        sentrycam.Monitor(mlp, layers=["act1"], probe=probe, pool={"act9": "mean"})


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_models_are_captured_in_float32(dtype):
    torch.manual_seed(0)
    model = ConvNet().to(dtype)
    x = torch.randn(6, 3, 5, 5)  # a float32 probe follows the model's dtype
    cam = sentrycam.Monitor(model, layers=["act1"], probe=x, every=1)
    frame = _one_frame_per_layer(cam)["act1"]
    assert frame.x.dtype == np.float32 and frame.x.shape == (6, 8)
    with torch.no_grad():
        want = torch.relu(model.conv1(x.to(dtype))).float().mean(dim=(2, 3))
    np.testing.assert_allclose(frame.x, want.numpy(), rtol=1e-2, atol=1e-2)
    assert np.isfinite(frame.metrics["eff_rank"])


def test_autocast_activations_in_bfloat16_are_pooled_in_float32():
    model = ConvNet()
    x = torch.randn(4, 3, 5, 5)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.conv1(x)
    assert out.dtype == torch.bfloat16
    pooled = pool_output(out, "auto")
    assert pooled.rows.dtype == torch.float32
    np.testing.assert_allclose(pooled.rows.numpy(), out.float().mean(dim=(2, 3)).numpy())


def test_log_pools_arrays_like_layer_outputs():
    cam = sentrycam.Monitor()
    maps = np.random.default_rng(0).normal(size=(5, 3, 4, 4)).astype(np.float32)
    tokens = torch.randn(5, 6, 2)
    cam.log(0, {"maps": maps, "tokens": tokens, "flat": maps.reshape(5, -1)})
    frames = {f.layer: f for f in cam.frames}
    np.testing.assert_allclose(frames["maps"].x, maps.mean(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_allclose(frames["tokens"].x, tokens.mean(1).numpy(), rtol=1e-6)
    assert frames["flat"].d == 48 and frames["maps"].shape == (5, 3, 4, 4)


def test_torch_compiled_models_accept_names_with_or_without_the_prefix():
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 8), act1=nn.ReLU(), out=nn.Linear(8, 2)))
    compiled = torch.compile(model, backend="eager")
    x = torch.randn(10, 4)
    cam = sentrycam.Monitor(compiled, layers=["act1", "_orig_mod.fc1"], probe=x, every=1)
    opt = torch.optim.SGD(compiled.parameters(), lr=0.1)
    for step in range(3):
        loss = compiled(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        cam.step(step)
    frames = [f for f in cam.frames if f.step == 2]
    assert [f.layer for f in frames] == ["act1", "_orig_mod.fc1"]
    with torch.no_grad():
        np.testing.assert_allclose(frames[0].x, torch.relu(model.fc1(x)).numpy(), rtol=1e-5)
    assert not model.act1._forward_hooks, "no hook is left on the compiled model's modules"
    with pytest.raises(ValueError) as err:
        sentrycam.Monitor(compiled, layers=["fc9"], probe=x)
    assert "fc1 (Linear), act1 (ReLU), out (Linear)" in str(err.value), "names a user would type"
    assert "_orig_mod" not in str(err.value)


def test_data_parallel_wrappers_accept_names_with_or_without_module():
    torch.manual_seed(0)
    inner = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 8), act1=nn.ReLU(), out=nn.Linear(8, 2)))
    wrapped = nn.DataParallel(inner)  # no GPU here: DataParallel runs the module as it is
    x = torch.randn(10, 4)
    cam = sentrycam.Monitor(wrapped, layers=["act1", "module.fc1"], probe=x, every=1)
    frames = _one_frame_per_layer(cam)
    with torch.no_grad():
        np.testing.assert_allclose(frames["act1"].x, torch.relu(inner.fc1(x)).numpy(), rtol=1e-5)
    assert frames["module.fc1"].d == 8
    with pytest.raises(
        ValueError, match=r"closest: 'fc1'.* stages: fc1 \(Linear\), act1 \(ReLU\), out"
    ):
        sentrycam.Monitor(wrapped, layers=["module.fc9"], probe=x)


def test_distributed_data_parallel_wrapper(tmp_path):
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1
    )
    try:
        torch.manual_seed(0)
        inner = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 8), act1=nn.ReLU(), out=nn.Linear(8, 2)))
        ddp = nn.parallel.DistributedDataParallel(inner)
        x = torch.randn(10, 4)
        cam = sentrycam.Monitor(ddp, layers=["act1", "module.out"], probe=x, every=1)
        frames = _one_frame_per_layer(cam)
        assert frames["act1"].d == 8 and frames["module.out"].preds is not None
    finally:
        dist.destroy_process_group()


def test_a_module_that_runs_twice_in_one_pass_keeps_its_last_call():
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Linear(4, 4)

        def forward(self, x):
            return self.block(torch.relu(self.block(x)))

    model, x = Shared(), torch.randn(6, 4)
    cam = sentrycam.Monitor(model, layers=["block"], probe=x, every=1)
    with pytest.warns(SentrycamWarning, match="'block' ran 2 times .* last call is kept"):
        cam.step(0)
    with torch.no_grad():
        want = model(x)
    np.testing.assert_allclose(cam.frames[0].x, want.numpy(), rtol=1e-6)


def test_a_layer_the_probe_never_calls_is_named(mlp, probe):
    class Skips(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(8, 3)
            self.unused = nn.Linear(8, 3)

        def forward(self, x):
            return self.used(x)

    cam = sentrycam.Monitor(Skips(), layers=["used", "unused"], probe=probe, every=1)
    with pytest.warns(SentrycamWarning, match="'unused' was not called by the probe pass"):
        cam.step(0)
    assert [f.layer for f in cam.frames] == ["used"]


def test_a_probe_on_another_device_or_dtype_follows_the_model(mlp, probe):
    x, y = probe
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=(x.double(), y), every=1)
    cam.step(0)
    mlp.double()  # the model changes dtype after the monitor was made
    cam.step(1)
    mlp.to("meta")  # a device where the probe cannot run: a warning, the step goes on
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cam.step(2)
    assert [f.step for f in cam.frames] == [0, 1]
    assert any("running the probe failed" in str(w.message) for w in caught)


def test_sequence_first_transformer_layers_are_transposed():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0).eval()  # batch_first=False
    x = torch.randn(5, 3, 8)  # (T, N, D)
    with torch.no_grad():
        out = layer(x)
    pooled = pool_output(out, "auto", layer)
    np.testing.assert_allclose(pooled.rows.numpy(), out.mean(0).numpy(), rtol=1e-6)
    assert pooled.shape == (3, 5, 8)


def test_half_precision_maps_are_averaged_in_float32():
    x = (torch.randn(4, 3, 16, 16) * 100).to(torch.float16)
    pooled = pool_output(x, "mean")
    assert pooled.rows.dtype == torch.float32
    np.testing.assert_allclose(pooled.rows.numpy(), x.float().mean(dim=(2, 3)).numpy(), rtol=1e-5)
    assert pool_output(x, "max").rows.dtype == torch.float32


def test_a_probe_that_follows_dtype_changes_is_cast_from_the_original():
    model = nn.Sequential(nn.Linear(4, 3))
    x = torch.tensor([[1.0001, 2.0, 3.0, 4.0]] * 3)
    cam = sentrycam.Monitor(model, layers=["0"], probe=x, every=1)
    model.half()
    cam.step(0)
    model.float()
    cam.step(1)
    assert cam._session.probe.x.dtype == torch.float32 and torch.equal(cam._session.probe.x, x)


def test_a_nested_dict_is_not_a_pool(mlp, probe):
    with pytest.raises(ValueError, match="a method or a callable per layer"):
        sentrycam.Monitor(mlp, layers=["act1"], probe=probe, pool={"act1": {"x": "mean"}})
