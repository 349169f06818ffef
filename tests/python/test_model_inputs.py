"""Capture that fits real model code (issue 19), on library models: inputs as models take them,
padding masks, time-major models, the probe's normalisation mode, repeated calls, containers,
unknown names and a closed monitor."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from library_models import torchvision
from torch import nn

import sentrycam
from sentrycam import SentrycamWarning

N, T = 12, 10


@pytest.fixture(scope="module")
def bert() -> Any:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=3,
    )
    return BertForSequenceClassification(config).eval()


def _encoding(pad_id: int = 0, labels: bool = True) -> Any:
    """A tokenizer's output: right-padded ids, their attention mask and (optionally) labels."""
    from transformers import BatchEncoding

    g = torch.Generator().manual_seed(3)
    lengths = torch.tensor([3, 10, 5, 7, 4, 10, 6, 8, 9, 3, 5, 2])
    mask = (torch.arange(T)[None] < lengths[:, None]).long()
    ids = torch.randint(5, 64, (N, T), generator=g) * mask + pad_id * (1 - mask)
    data = {"input_ids": ids, "attention_mask": mask}
    if labels:
        data["labels"] = torch.randint(0, 3, (N,), generator=g)
    return BatchEncoding(data)


LAYER = "bert.encoder.layer.1.output"


def _rows(model: Any, probe: Any, pool: Any = "auto", **kwargs: Any) -> Any:
    cam = sentrycam.Monitor(model, [LAYER], probe=probe, every=1, sync=True, pool=pool, **kwargs)
    cam.step(0)
    cam.close()
    assert cam.problems == []
    return cam.frames[0]


def test_a_tokenizer_output_with_labels_is_a_probe(bert):
    enc = _encoding()
    frame = _rows(bert, enc)
    assert np.array_equal(frame.labels, enc["labels"].numpy())
    with torch.no_grad():  # labels are not passed to the model: predictions come from its logits
        logits = bert(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    assert frame.preds is not None and np.array_equal(frame.preds, logits.argmax(1).numpy())
    assert {"logit_max", "logit_entropy"} <= set(frame.scalars)


def test_a_one_tuple_and_non_tensor_values_are_passed_as_they_are(bert):
    enc = _encoding(labels=False)
    plain = _rows(bert, (enc,))
    assert plain.labels is None and plain.n == N
    flagged = _rows(bert, ({**enc, "output_hidden_states": True},), probe_batch=5)
    np.testing.assert_allclose(flagged.x, plain.x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["auto", "max", "first", "last"])
def test_token_pooling_uses_only_the_unmasked_positions(bert, method):
    enc = _encoding(pad_id=0)
    rows = _rows(bert, enc, pool=method).x
    other_pad = _rows(bert, _encoding(pad_id=7), pool=method).x  # only the pad tokens differ
    np.testing.assert_allclose(rows, other_pad, atol=1e-5)
    chunked = _rows(bert, enc, pool=method, probe_batch=5).x  # the mask is chunked with the probe
    np.testing.assert_allclose(chunked, rows, atol=1e-5)
    seen: list[Any] = []
    hook = dict(bert.named_modules())[LAYER].register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        bert(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    hook.remove()
    hidden, mask = seen[0], enc["attention_mask"].bool()
    real = [hidden[i, mask[i]] for i in range(N)]
    want = {
        "auto": [r.mean(0) for r in real],
        "max": [r.amax(0) for r in real],
        "first": [r[0] for r in real],
        "last": [r[-1] for r in real],  # the last real token, not a pad
    }[method]
    np.testing.assert_allclose(rows, torch.stack(want).numpy(), rtol=1e-5, atol=1e-5)


def test_a_pool_callable_may_take_the_chunk_mask(bert):
    shapes = []

    def masked_mean(output: Any, mask: Any) -> Any:
        shapes.append(tuple(mask.shape))
        weights = mask.float().unsqueeze(-1)
        return (output * weights).sum(1) / weights.sum(1)

    frame = _rows(bert, _encoding(), pool={LAYER: masked_mean}, probe_batch=5)
    assert shapes == [(5, T), (5, T), (2, T)]
    np.testing.assert_allclose(frame.x, _rows(bert, _encoding(), pool="mean").x, atol=1e-5)


class TimeMajor(nn.Module):
    """A GRU classifier called as it is built: inputs (T, N, F)."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 16)  # batch_first=False
        self.proj = nn.Linear(16, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x: Any) -> Any:
        out, _ = self.gru(x)
        return self.head(self.proj(out)[-1])


def test_a_time_major_model_is_probed_as_it_is_called():
    torch.manual_seed(0)
    model, x = TimeMajor(), torch.randn(24, 200, 8)
    y = torch.randint(0, 3, (200,))
    cam = sentrycam.Monitor(
        model, ["gru", "proj"], probe=(x, y), every=1, sync=True, batch_first=False, probe_batch=64
    )
    cam.step(0)
    assert cam.problems == []
    frames = {f.layer: f for f in cam.frames}
    with torch.no_grad():
        out, _ = model.gru(x)
        want = {"gru": out.mean(0), "proj": model.proj(out).mean(0)}
        preds = model(x).argmax(1)
    for name in ("gru", "proj"):
        assert frames[name].n == 200
        np.testing.assert_allclose(frames[name].x, want[name].numpy(), rtol=1e-5, atol=1e-6)
    assert np.array_equal(frames["gru"].preds, preds.numpy())
    assert np.array_equal(frames["gru"].labels, y.numpy())
    # Without batch_first=False the error is about the probe's layout, not the layer or labels.
    with pytest.raises(ValueError, match=r"\(24, 200, 8\).*batch_first=False"):
        sentrycam.Monitor(model, ["gru"], probe=(x, y))


def test_probe_mode_train_uses_batch_statistics_and_restores_every_buffer():
    tv = torchvision()
    torch.manual_seed(0)
    model = tv.models.mobilenet_v3_small(num_classes=10, width_mult=0.5)
    x = torch.randn(16, 3, 32, 32)
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 3, 32, 32) * 3 + 1)  # running statistics away from the probe's
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layers = ["features.3", "features.8"]
    cam = sentrycam.Monitor(model, layers, probe=x, every=1, sync=True, probe_mode="train")
    cam.step(0)
    cam.step(1)
    after = model.state_dict()
    for key, value in before.items():  # running means, variances and counters: bit-identical
        assert torch.equal(after[key], value), key
    assert all(m.training for m in model.modules())
    frames = {(f.step, f.layer): f for f in cam.frames}
    np.testing.assert_array_equal(
        frames[0, "features.8"].x, frames[1, "features.8"].x
    )  # no dropout
    seen: dict[str, Any] = {}
    modules = dict(model.named_modules())
    hooks = [
        modules[n].register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o))
        for n in layers
    ]
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.train()
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    model.load_state_dict(before)
    for name in layers:
        want = seen[name].mean((2, 3)).numpy()
        np.testing.assert_allclose(frames[0, name].x, want, rtol=1e-4, atol=1e-5)
    eval_cam = sentrycam.Monitor(model, layers, probe=x, every=1, sync=True)
    eval_cam.step(0)
    assert not np.allclose(eval_cam.frames[0].x, frames[0, "features.3"].x, atol=1e-3)


def test_lagging_running_averages_are_told_once_with_the_option():
    """MobileNetV3 as the library makes it (BatchNorm momentum 0.01) early in training: its
    running averages lag the weights. Once they have caught up, nothing is said."""
    tv = torchvision()
    torch.manual_seed(0)
    model = tv.models.mobilenet_v3_small(num_classes=4, width_mult=0.5)
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 3, 1, 1, generator=g) * 2
    y = torch.randint(0, 4, (600,), generator=g)
    x = centres[y] + 0.5 * torch.randn(600, 3, 16, 16, generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    cam = sentrycam.Monitor(model, ["features.3"], probe=(x[:64], y[:64]), every=8, sync=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(260):
            cam.step(step)
            model.train()
            batch = torch.randint(64, 600, (32,), generator=g)
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    told = [str(w.message) for w in caught if "probe_mode='train'" in str(w.message)]
    assert len(told) == 1, cam.problems
    assert "momentum as low as 0.01" in told[0] and "right on" in told[0]
    # The same network, weights fixed, running averages left to catch up: eval mode is right.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.5
    model.train()
    with torch.no_grad():
        for _ in range(20):
            model(x[torch.randint(64, 600, (32,), generator=g)])
    caught_up = sentrycam.Monitor(model, ["features.3"], probe=(x[:64], y[:64]), every=1, sync=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in range(8):
            caught_up.step(step)
    assert caught_up.problems == []


def test_a_resnet_relu_called_three_times_picks_a_call():
    tv = torchvision()
    torch.manual_seed(0)
    model = tv.models.resnet50(num_classes=10).eval()
    x = torch.randn(4, 3, 32, 32)
    names = ["layer1.0.relu", "layer1.0.relu#0", "layer1.0.relu#-1", "layer1.0.relu#5"]
    cam = sentrycam.Monitor(model, names, probe=x, every=1, sync=True)
    with pytest.warns(SentrycamWarning) as caught:
        cam.step(0)
    text = " ".join(str(w.message) for w in caught)
    assert "'layer1.0.relu' ran 3 times in one forward pass; the output of its last call" in text
    assert "'layer1.0.relu#0', 'layer1.0.relu#1', 'layer1.0.relu#2'" in text
    assert "shared" not in text
    assert "'layer1.0.relu#5' asks for call 5" in text
    frames = {f.layer: f for f in cam.frames}
    assert set(frames) == set(names[:3])
    block = model.layer1[0]
    with torch.no_grad():
        stem = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        first = torch.relu(block.bn1(block.conv1(stem))).mean((2, 3))
        last = block(stem).mean((2, 3))
    np.testing.assert_allclose(frames["layer1.0.relu#0"].x, first.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(frames["layer1.0.relu#-1"].x, last.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(frames["layer1.0.relu"].x, frames["layer1.0.relu#-1"].x)


def test_containers_are_refused_with_the_names_to_watch():
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    gpt = GPT2Model(GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=2, n_positions=16))
    ids = torch.randint(0, 64, (4, 8))
    with pytest.raises(ValueError, match=r"'h' is a ModuleList.*'h\.0', 'h\.1' \(2 entries\)"):
        sentrycam.Monitor(gpt, ["h"], probe=ids)

    class Loops(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
            self.heads = nn.ModuleDict({"a": nn.Linear(4, 2)})

        def forward(self, x: Any) -> Any:
            for block in self.blocks:
                x = block(x)
            return self.heads["a"](x)

    with pytest.raises(ValueError, match=r"'blocks' is a Sequential that the model never calls"):
        sentrycam.Monitor(Loops(), ["blocks"], probe=torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"'heads' is a ModuleDict.*'heads\.a'"):
        sentrycam.Monitor(Loops(), ["heads"], probe=torch.randn(3, 4))


def test_an_unknown_name_gets_close_names_and_the_stages_in_one_short_paragraph():
    tv = torchvision()
    model = tv.models.efficientnet_b0(num_classes=10)
    with pytest.raises(ValueError) as err:
        sentrycam.Monitor(model, ["features.3.0.blok"], probe=torch.randn(2, 3, 32, 32))
    text = str(err.value)
    assert len(text) < 700, text
    assert "'features.3.0.block'" in text and "features (Sequential)" in text
    assert "classifier (Sequential)" in text and text.count("features.") <= 6


def test_a_closed_monitor_says_it_is_closed(mlp, probe):
    cam = sentrycam.Monitor(mlp, ["act1"], probe=probe, every=1)
    cam.step(0)
    cam.close()
    with pytest.raises(RuntimeError, match="closed monitor"):
        cam.step(1)


def test_probe_settings_that_cannot_work_fail_before_training(mlp, probe):
    with pytest.raises(ValueError, match="probe_mode must be one of"):
        sentrycam.Monitor(mlp, ["act1"], probe=probe, probe_mode="batch")
    with pytest.raises(ValueError, match="batch_first must be True"):
        sentrycam.Monitor(mlp, ["act1"], probe=probe, batch_first="no")
    with pytest.raises(ValueError, match="probe labels has 5 entries"):
        sentrycam.Monitor(mlp, ["act1"], probe={"input": probe[0], "labels": torch.zeros(5)})


class Odd(nn.Module):
    """Outputs whose rows are not the samples: merged with positions, or shared by every one."""

    def __init__(self) -> None:
        super().__init__()
        self.merged = nn.Identity()
        self.table = nn.Identity()
        self.bias = nn.Parameter(torch.zeros(1, 5, 3))
        self.head = nn.Linear(4, 2)

    def forward(self, x: Any) -> Any:
        self.merged(x.reshape(-1, 2))  # (N * 2, 2)
        self.table(self.bias)  # (1, 5, 3): no sample axis
        return self.head(x)


def test_rows_that_are_not_samples_are_told_by_what_the_shape_says():
    cam = sentrycam.Monitor(Odd(), ["merged", "table"], probe=torch.randn(8, 4), every=1)
    with pytest.warns(SentrycamWarning) as caught:
        cam.step(0)
    text = " ".join(str(w.message) for w in caught)
    assert "16 = 8 x 2: the samples look merged with positions" in text
    assert "no dimension of its output has the probe's 8 samples" in text
    assert "batch_first" not in text  # neither is a time-major model
    assert cam.frames == []


def test_channels_last_maps_are_pooled_over_their_positions():
    """torchvision's Swin keeps its maps (N, H, W, C): a row has C values, not W."""
    tv = torchvision()
    torch.manual_seed(0)
    model = tv.models.swin_t(num_classes=10).eval()
    x = torch.randn(2, 3, 64, 64)
    layers = ["features", "norm", "features.1"]
    cam = sentrycam.Monitor(model, layers, probe=x, every=1, sync=True, max_dim=1024)
    cam.step(0)
    frames = {f.layer: f for f in cam.frames}
    assert frames["norm"].shape == (2, 2, 2, 768) and frames["norm"].d == 768
    assert frames["features"].d == 768 and frames["features.1"].d == 96
    with torch.no_grad():
        want = model.norm(model.features(x)).mean((1, 2))
    np.testing.assert_allclose(frames["norm"].x, want.numpy(), rtol=1e-4, atol=1e-5)
