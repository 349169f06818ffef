"""Bounded frames: the width cap's fixed projection, the byte bound, and probe batching."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import sentrycam
from sentrycam import SentrycamWarning
from sentrycam.pipeline._project import (
    BLOCK_ROWS,
    CACHE_MAX_BYTES,
    Projector,
    frame_bytes,
    plan_width,
)


def test_wide_layers_travel_as_the_same_projection_every_frame():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 700)).astype(np.float32)
    cam = sentrycam.Monitor(max_dim=64)
    for step in range(3):
        cam.log(step, {"wide": base + 0.01 * step, "narrow": base[:, :10]})
    frames = [f for f in cam.frames if f.layer == "wide"]
    assert all(f.d == 64 and f.projected_from == 700 for f in frames)
    r = Projector().matrix("wide", 700, 64)
    np.testing.assert_allclose(frames[0].x, base @ r, rtol=1e-4, atol=1e-4)
    # The same matrix for every frame: a shift of the input shifts every projected row equally.
    np.testing.assert_allclose(
        frames[2].x - frames[0].x, (0.02 * np.ones(700) @ r)[None, :].repeat(40, 0), atol=1e-4
    )
    narrow = next(f for f in cam.frames if f.layer == "narrow")
    assert narrow.d == 10 and narrow.projected_from is None
    # Metrics are exact (full width) where affordable: the norms are those of the raw rows.
    np.testing.assert_allclose(
        frames[0].metrics["norm_max"], np.linalg.norm(base, axis=1).max(), rtol=1e-5
    )


def test_the_projection_is_seeded_by_layer_and_the_same_across_monitors_and_block_sizes():
    p, q = Projector(), Projector()
    a = p.matrix("conv3", 5000, 32)
    np.testing.assert_array_equal(a, q.matrix("conv3", 5000, 32))
    assert not np.allclose(a[:100], p.matrix("conv4", 5000, 32)[:100])
    assert abs(a.std() - 1 / np.sqrt(32)) < 0.01  # N(0, 1/k): norms kept in expectation
    # A layer too wide to cache is projected block by block: the same values come out.
    d = CACHE_MAX_BYTES // (4 * 8) + BLOCK_ROWS + 3
    x = np.random.default_rng(1).normal(size=(3, d)).astype(np.float32)
    streamed = p.project("huge", x, 8)
    cached = x @ p.matrix("huge", d, 8)
    np.testing.assert_allclose(streamed, cached, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(
        p.project("huge", torch.from_numpy(x), 8).numpy(), streamed, rtol=1e-4
    )


def test_a_256_by_200000_array_is_projected_and_said_so():
    x = np.random.default_rng(2).normal(size=(256, 200_000)).astype(np.float32)
    cam = sentrycam.Monitor()
    with pytest.warns(SentrycamWarning, match=r"200,000 values per point exceed max_dim=512"):
        cam.log(0, {"wide": x}, labels=np.arange(256) % 4)
        cam.flush()
    (frame,) = cam.frames
    assert frame.d == 512 and frame.projected_from == 200_000 and frame.nbytes < 600_000
    assert "computed on the projection" in cam.problems[0]
    norms = np.linalg.norm(x, axis=1)
    assert abs(frame.metrics["norm_mean"] / norms.mean() - 1) < 0.05


def test_no_frame_exceeds_the_byte_bound():
    n, d = 3000, 400
    x = np.random.default_rng(3).normal(size=(n, d)).astype(np.float32)
    bound = 2 * 1024 * 1024  # 3,000 points x 400 float32 = 4.8 MB
    cam = sentrycam.Monitor(max_frame_bytes=bound)
    with pytest.warns(
        SentrycamWarning, match=r"exceed max_frame_bytes=2,097,152.*Raise max_frame_bytes"
    ):
        cam.log(0, {"h": x})
        cam.flush()
    (frame,) = cam.frames
    assert frame.nbytes <= bound and frame.projected_from == d and 8 <= frame.d < d
    assert frame.d == plan_width(n, d, max_dim=512, max_frame_bytes=bound, bytes_per_value=4).dim
    # float16 halves the bytes per value: more dimensions fit under the same bound.
    half = sentrycam.Monitor(max_frame_bytes=bound, dtype="float16")
    with pytest.warns(SentrycamWarning, match="max_frame_bytes"):
        half.log(0, {"h": x})
        half.flush()
    assert half.frames[0].nbytes <= bound and half.frames[0].d > frame.d


def test_a_frame_that_cannot_fit_is_refused_with_a_warning_and_metrics_still_run():
    n = 20_000
    cam = sentrycam.Monitor(max_frame_bytes=64 * 1024)
    with pytest.warns(
        SentrycamWarning, match="refused.*use a smaller probe or raise max_frame_bytes"
    ):
        cam.log(0, {"h": np.ones((n, 4), dtype=np.float32)}, loss=1.0)
        cam.flush()
    assert cam.frames == []
    assert frame_bytes(n, 8, 4) > 64 * 1024


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_dim": 1}, "max_dim"),
        ({"max_dim": 64.0}, "max_dim"),
        ({"max_frame_bytes": 1000}, "max_frame_bytes"),
        ({"probe_batch": 0}, "probe_batch"),
        ({"budget": 1.5}, "budget"),
        ({"budget": 0}, "budget"),
        ({"dtype": "bfloat16"}, "dtype"),
        ({"reducer": "t-sne"}, r"reducer must be one of \('umap', 'tsne', 'pca'\)"),
    ],
)
def test_settings_that_cannot_work_are_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sentrycam.Monitor(**kwargs)


@pytest.mark.parametrize("reducer", ["umap", "tsne", "pca"])
def test_every_reducer_is_accepted_and_synced_to_the_view(reducer):
    cam = sentrycam.Monitor(reducer=reducer)
    assert cam.reducer == reducer
    cam.close()


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(1, 6, 3, padding=1),
            bn=nn.BatchNorm2d(6),
            act=nn.ReLU(),
            flat=nn.Flatten(),
            out=nn.Linear(6 * 8 * 8, 5),
        )
    )


@pytest.mark.parametrize("pool", ["auto", "max", "flatten"])
def test_batched_probe_runs_give_the_unbatched_result(pool):
    model = _cnn()
    model.train()
    for _ in range(3):  # BatchNorm running statistics that differ from their initial values
        model(torch.randn(32, 1, 8, 8) * 2 + 1)
    x, y = torch.randn(103, 1, 8, 8), torch.randint(0, 5, (103,))
    whole = sentrycam.Monitor(model, layers=["act", "out"], probe=(x, y), every=1, pool=pool)
    chunked = sentrycam.Monitor(
        model, layers=["act", "out"], probe=(x, y), every=1, pool=pool, probe_batch=10
    )
    whole.step(0)
    chunked.step(0)
    for a, b in zip(whole.frames, chunked.frames, strict=True):
        assert a.layer == b.layer and a.shape == b.shape == (
            (103, 6, 8, 8) if a.layer == "act" else (103, 5)
        )
        np.testing.assert_allclose(a.x, b.x, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(a.preds, b.preds)
        np.testing.assert_array_equal(a.labels, b.labels)
    assert model.training, "the model's own mode is restored"


def test_large_probes_run_in_chunks_by_default():
    from sentrycam.capture import DEFAULT_PROBE_BATCH

    sizes = []
    model = _cnn()
    model.conv.register_forward_hook(lambda m, i, o: sizes.append(o.shape[0]))
    cam = sentrycam.Monitor(model, layers=["act"], probe=torch.randn(600, 1, 8, 8), every=1)
    cam.step(0)
    assert sizes == [DEFAULT_PROBE_BATCH, DEFAULT_PROBE_BATCH, 600 - 2 * DEFAULT_PROBE_BATCH]
    assert cam.frames[0].n == 600
