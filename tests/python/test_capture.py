"""Hooks, probe runs, train/eval restore and validation before training starts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import capture
from torch import nn

import sentrycam
from sentrycam import SentrycamWarning


def test_step_captures_each_layer_every_n_steps(mlp, probe, sent):
    cam = capture(sentrycam.Monitor(mlp, layers=["act1", "fc2"], probe=probe, every=5), sent)
    for step in range(23):
        cam.step(step, loss=1.0)
    steps = sorted({f.step for f in cam.frames})
    assert steps == [0, 5, 10, 15, 20]
    assert [f.layer for f in cam.frames[:2]] == ["act1", "fc2"]
    frame = cam.frames[0]
    assert frame.x.shape == (40, 16) and frame.x.dtype == np.float32
    assert np.array_equal(frame.labels, probe[1].numpy())
    assert frame.preds is not None and frame.preds.shape == (40,)
    with torch.no_grad():
        expected = torch.relu(mlp.fc1(probe[0])).numpy()
    np.testing.assert_allclose(cam.frames[-2].x, expected, rtol=1e-6)
    assert frame.scalars["loss"] == 1.0  # with the model output's streams:
    assert set(frame.scalars) == {"loss", "logit_max", "logit_entropy"}
    cam.flush()
    assert sent.frame_seqs() == [f.seq for f in cam.frames]


def test_train_eval_mode_is_restored_per_module(mlp, probe):
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=1)
    seen = []
    mlp.fc1.register_forward_hook(lambda m, i, o: seen.append(m.training))
    mlp.train()
    mlp.fc2.eval()  # a user-frozen submodule stays frozen
    cam.step(0)
    assert seen == [False], "the probe must run in eval mode"
    assert mlp.training and mlp.fc1.training and not mlp.fc2.training
    mlp.eval()
    cam.step(1)
    assert not mlp.training and not mlp.fc1.training


def test_probe_runs_without_gradients(mlp, probe):
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=1)
    cam.step(0)
    assert all(p.grad is None for p in mlp.parameters())


def test_conv_outputs_are_flattened_per_sample_on_request():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    cam = sentrycam.Monitor(
        model, layers=["1"], probe=torch.randn(10, 1, 8, 8), every=1, pool="flatten"
    )
    cam.step(0)
    assert cam.frames[0].x.shape == (10, 4 * 6 * 6)
    assert cam.frames[0].labels is None and cam.frames[0].pool == "flatten"


def test_unknown_layer_lists_available_names(mlp, probe):
    with pytest.raises(ValueError) as err:
        sentrycam.Monitor(mlp, layers=["fc9"], probe=probe)
    assert "fc9" in str(err.value) and "act1" in str(err.value) and "out" in str(err.value)


def test_no_layers_named_is_an_error(mlp, probe):
    with pytest.raises(ValueError, match=r"name at least one layer.*top-level stages: fc1"):
        sentrycam.Monitor(mlp, layers=[], probe=probe)


@pytest.mark.parametrize(
    "bad_probe",
    [["a", "b", "c"], "not a tensor", (np.zeros((4, 8)).tolist(), None), 3.0],
)
def test_probe_of_the_wrong_type_is_a_value_error(mlp, bad_probe):
    with pytest.raises(ValueError, match="probe"):
        sentrycam.Monitor(mlp, layers=["act1"], probe=bad_probe)


def test_labels_of_the_wrong_length_are_a_value_error(mlp):
    with pytest.raises(ValueError, match=r"39 entries but there are 40 samples"):
        sentrycam.Monitor(mlp, layers=["act1"], probe=(torch.randn(40, 8), torch.zeros(39)))


def test_missing_probe_is_a_value_error(mlp):
    with pytest.raises(ValueError, match="probe"):
        sentrycam.Monitor(mlp, layers=["act1"])


def test_every_must_be_positive(mlp, probe):
    with pytest.raises(ValueError, match="every"):
        sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=0)


def test_non_finite_activations_are_delivered_and_flagged(probe, sent):
    class Bad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            h = self.fc(x)
            h[0, 0] = float("nan")
            h[1, 2] = float("inf")
            return h

    model = nn.Sequential(Bad())
    cam = capture(sentrycam.Monitor(model, layers=["0"], probe=probe, every=1), sent)
    with pytest.warns(SentrycamWarning, match="non-finite"):
        cam.step(0)
        cam.flush()
    assert cam.frames[0].nonfinite == 2
    assert len(sent.frame_seqs()) == 1
    assert any("non-finite" in c["text"] for c, _ in sent.of_type("notice"))


def test_exception_in_a_hook_warns_and_training_goes_on(probe):
    class NoTensor(nn.Module):
        def forward(self, x):
            return x

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.odd = NoTensor()

        def forward(self, x):
            self.odd("a string, not a tensor")
            return self.fc(x)

    model = Model()
    cam = sentrycam.Monitor(model, layers=["odd", "fc"], probe=probe, every=1)
    with pytest.warns(SentrycamWarning, match="odd"):
        cam.step(0)
    assert [f.layer for f in cam.frames] == ["fc"]
    assert any("layer 'odd': output of type str holds no tensor" in p for p in cam.problems)


def test_exception_while_encoding_warns_and_training_goes_on(mlp, probe, monkeypatch):
    import sentrycam.pipeline._builder as builder

    def boom(frame, dtype):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(builder, "encode", boom)
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=1)
    with pytest.warns(SentrycamWarning, match="encoding the frame failed: disk on fire"):
        cam.step(0)
        cam.flush()
    assert cam.frames == []
    monkeypatch.undo()
    cam.step(1)
    assert [(f.seq, f.step) for f in cam.frames] == [(0, 1)]


def test_exception_inside_the_model_warns_and_training_goes_on(probe):
    class Flaky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            if not self.training:
                raise RuntimeError("eval path broken")
            return self.fc(x)

    model = Flaky()
    cam = sentrycam.Monitor(model, layers=["fc"], probe=probe, every=1)
    with pytest.warns(SentrycamWarning, match="running the probe failed"):
        cam.step(0)
    assert model.training and cam.frames == []


def test_hooks_exist_only_while_the_probe_runs(mlp, probe):
    seen = []
    mlp.act1.register_forward_hook(lambda m, i, o: seen.append(len(m._forward_hooks)))
    with sentrycam.Monitor(mlp, layers=["act1", "fc2"], probe=probe, every=2) as cam:
        assert len(mlp.act1._forward_hooks) == 1 and len(mlp.fc2._forward_hooks) == 0
        cam.step(0)  # the probe pass: one more hook on act1 while it runs
        mlp(probe[0])  # an ordinary training pass: only the user's hook
        cam.step(1)
    assert seen == [2, 1]
    assert len(mlp.act1._forward_hooks) == 1 and len(mlp.fc2._forward_hooks) == 0
    with pytest.raises(RuntimeError, match="closed"):
        cam.step(2)
