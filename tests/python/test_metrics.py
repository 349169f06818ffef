"""Geometry metrics against analytic answers, torch/NumPy agreement, and bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import sentrycam.metrics as M

layer_metrics, LayerState = M.layer_metrics, M.LayerState

RNG = np.random.default_rng(0)


def test_keys_stable_and_floats():
    out = layer_metrics(RNG.standard_normal((50, 4)), RNG.integers(0, 3, 50))
    assert tuple(out) == M.METRIC_KEYS
    assert all(isinstance(v, float) for v in out.values())


def test_isotropic_gaussian_effective_rank_near_d():
    x = RNG.standard_normal((20000, 16))
    assert layer_metrics(x)["eff_rank"] == pytest.approx(16, rel=0.02)


def test_rank_one_effective_rank_is_one():
    x = RNG.standard_normal((500, 1)) * RNG.standard_normal((1, 32)) + 3.0
    assert layer_metrics(x)["eff_rank"] == pytest.approx(1.0, abs=1e-3)


def test_cka_identical_is_one_and_invariant():
    x = RNG.standard_normal((300, 20))
    q, _ = np.linalg.qr(RNG.standard_normal((20, 20)))
    st = LayerState()
    layer_metrics(x, None, st)
    out = layer_metrics(3.0 * x @ q + 1.0, None, st)  # rotation, scale, offset
    assert out["cka_prev"] == pytest.approx(1.0, abs=1e-5)
    assert out["cka_ref"] == pytest.approx(1.0, abs=1e-5)


def test_cka_independent_is_near_zero_and_ref_is_first_frame():
    a, b, c = (RNG.standard_normal((4000, 8)) for _ in range(3))
    st = LayerState()
    layer_metrics(a, None, st)
    out = layer_metrics(b, None, st)
    assert out["cka_prev"] < 0.02
    out = layer_metrics(a, None, st)  # ref is a: identical
    assert out["cka_ref"] == pytest.approx(1.0, abs=1e-5)
    assert out["cka_prev"] < 0.02
    assert math.isnan(layer_metrics(c)["cka_prev"])  # no state: undefined


def test_knn_jaccard_identical_and_shuffled():
    x = RNG.standard_normal((200, 5))
    st = LayerState()
    layer_metrics(x, None, st)
    assert layer_metrics(x * 2.0, None, st)["knn_jaccard_prev"] == pytest.approx(1.0)
    low = layer_metrics(RNG.standard_normal((200, 5)), None, st)["knn_jaccard_prev"]
    assert low < 0.15


def test_dead_and_dormant_units():
    x = np.abs(RNG.standard_normal((100, 10))) + 0.5  # a ReLU-like layer: never negative
    x[:, :3] = 0.0  # dead: zero for every input
    x[:, 4] *= 1e-4  # active but dormant
    out = layer_metrics(x)
    assert out["dead_frac"] == pytest.approx(0.3)
    # dormant: mean |a| <= 0.025 x layer mean: the three zero columns and the tiny one
    assert out["dormant_frac"] == pytest.approx(0.4)
    assert out["constant_frac"] == pytest.approx(0.3)  # the dead ones do not vary either


def test_dead_means_nothing_where_outputs_can_be_negative():
    """A pre-activation, LayerNorm, GRU or logit layer: units below zero are not dead."""
    x = RNG.standard_normal((100, 10))
    x[:, :4] = -np.abs(x[:, :4]) - 0.1  # never positive: a ReLU after it would be dead, not it
    x[:, 5] = 2.0  # constant across inputs
    out = layer_metrics(x)
    assert math.isnan(out["dead_frac"])
    assert out["constant_frac"] == pytest.approx(0.1)


@pytest.mark.parametrize("peak", [1e19, 1e30, 3.0e38])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_huge_finite_activations_give_finite_metrics_and_no_warning(peak, backend):
    """The step before a divergence: finite values up to float32's maximum."""
    base = RNG.standard_normal((200, 16)).astype(np.float32)
    labels = np.arange(200) % 4
    x = (base / np.abs(base).max() * peak).astype(np.float32)
    assert np.isfinite(x).all()
    if backend == "torch":
        torch = pytest.importorskip("torch")
        x, base = torch.from_numpy(x), torch.from_numpy(base)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        st = LayerState()
        layer_metrics(base, labels, st)
        out = layer_metrics(x, labels, st)
    for key in ("norm_mean", "norm_max", "eff_rank", "intra_var", "inter_dist", "fisher", "nc1"):
        assert math.isfinite(out[key]), (key, out[key])
    small = layer_metrics(base, labels)
    assert out["eff_rank"] == pytest.approx(small["eff_rank"], rel=1e-4)
    assert out["fisher"] == pytest.approx(small["fisher"], rel=1e-3)
    ratio = peak / float(np.abs(np.asarray(base)).max())
    assert out["norm_mean"] == pytest.approx(small["norm_mean"] * ratio, rel=1e-4)
    assert out["change_prev"] > 1e10  # it grew by that much since the previous frame


def test_perfect_collapse_nc1_zero():
    means = RNG.standard_normal((4, 16)) * 5
    y = np.repeat(np.arange(4), 25)
    out = layer_metrics(means[y], y)
    assert out["nc1"] == pytest.approx(0.0, abs=1e-9)
    assert out["intra_var"] == pytest.approx(0.0, abs=1e-9)
    assert out["fisher"] == math.inf
    assert out["n_classes"] == 4


def test_fisher_and_distances_constructed():
    s = 0.5
    x = np.array([[-1 - s], [-1 + s], [1 - s], [1 + s]])
    y = np.array([0, 0, 1, 1])
    out = layer_metrics(x, y)
    assert out["intra_var"] == pytest.approx(s**2)
    assert out["inter_dist"] == pytest.approx(2.0)
    assert out["fisher"] == pytest.approx(1.0 / s**2)


def test_nc1_ignores_within_class_variance_outside_between_class_span():
    s, t = 0.3, 5.0
    pts, y = [], []
    for c, mx in enumerate((-1.0, 1.0)):
        for dx in (-s, s):
            for dy in (-t, t):
                pts.append([mx + dx, dy])
                y.append(c)
    out = layer_metrics(np.array(pts), np.array(y))
    assert out["nc1"] == pytest.approx(s**2 / 2)  # tr(S_W S_B^+) / C with S_B^+ = diag(1, 0)


def _nc1_bruteforce(x: np.ndarray, y: np.ndarray) -> float:
    classes = np.unique(y)
    mu = np.stack([x[y == c].mean(0) for c in classes])
    g = mu.mean(0)
    sb = (mu - g).T @ (mu - g) / len(classes)
    r = x - mu[np.searchsorted(classes, y)]
    sw = r.T @ r / len(x)
    return float(np.trace(sw @ np.linalg.pinv(sb)) / len(classes))


def test_nc1_matches_pseudo_inverse_definition():
    y = RNG.integers(0, 6, 400)
    x = RNG.standard_normal((400, 30)) + 2.0 * RNG.standard_normal((6, 30))[y]
    assert layer_metrics(x, y)["nc1"] == pytest.approx(_nc1_bruteforce(x, y), rel=1e-4)


@pytest.mark.parametrize("d", [32, 400])  # D < N and D > N (wide: Gram-based state)
def test_torch_and_numpy_agree(d):
    torch = pytest.importorskip("torch")
    y = RNG.integers(0, 5, 300)
    frames = [np.maximum(RNG.standard_normal((300, d)) + RNG.standard_normal(d), 0)]
    frames.append(frames[0] + 0.1 * RNG.standard_normal((300, d)))
    frames.append(frames[1] + 0.1 * RNG.standard_normal((300, d)))
    frames = [f.astype(np.float32) for f in frames]
    sn, st = LayerState(), LayerState()
    for f in frames:
        a = layer_metrics(f, y, sn)
        b = layer_metrics(torch.from_numpy(f), torch.from_numpy(y), st)
    for k in M.METRIC_KEYS:
        # kNN sets may differ by a near-tied neighbour (float32 sums in another order): a swap
        # moves the mean Jaccard by ~0.2 / N, so allow a few.
        tol = 3e-3 if k == "knn_jaccard_prev" else 1e-6
        assert a[k] == pytest.approx(b[k], rel=1e-4, abs=tol, nan_ok=True), k


def test_nonfinite_rows_are_excluded():
    x = RNG.standard_normal((100, 6))
    y = RNG.integers(0, 3, 100)
    bad = x.copy()
    bad[[3, 50], 2] = np.nan
    bad[7, 0] = np.inf
    keep = np.ones(100, bool)
    keep[[3, 7, 50]] = False
    out, ref = layer_metrics(bad, y), layer_metrics(x[keep], y[keep])
    assert out["nonfinite_frac"] == pytest.approx(3 / 600)
    assert out["n_valid"] == 97
    for k in ("norm_mean", "eff_rank", "intra_var", "fisher", "nc1", "dead_frac"):
        assert out[k] == pytest.approx(ref[k], nan_ok=True), k


@pytest.mark.parametrize(
    "x,labels",
    [
        (np.ones((40, 8)), np.arange(40) % 4),  # constant activations
        (RNG.standard_normal((40, 1)), np.arange(40) % 4),  # D = 1
        (RNG.standard_normal((40, 8)), np.zeros(40, int)),  # single class
        (RNG.standard_normal((40, 8)), None),  # labels missing
        (RNG.standard_normal((1, 8)), np.array([2])),  # N = 1
        (RNG.standard_normal((3, 8)), np.array([0, 1, 9])),  # N small, sparse labels
        (np.full((10, 4), np.nan), np.arange(10) % 2),  # all non-finite
        (np.zeros((0, 4)), np.zeros(0, int)),  # empty
        (RNG.standard_normal((10, 4)), np.arange(7)),  # label length mismatch
        (RNG.standard_normal((10, 2, 3)), np.arange(10) % 2),  # higher rank: flattened
    ],
)
def test_bad_input_defined_results(x, labels):
    st = LayerState()
    for _ in range(2):
        out = layer_metrics(x, labels, st)
        assert tuple(out) == M.METRIC_KEYS


def test_undefined_values_are_nan():
    x = RNG.standard_normal((40, 8))
    one = layer_metrics(x, np.zeros(40, int))
    assert math.isnan(one["fisher"]) and math.isnan(one["nc1"]) and one["n_classes"] == 1
    assert one["intra_var"] > 0
    none = layer_metrics(x, None)
    assert all(math.isnan(none[k]) for k in ("n_classes", "fisher", "nc1", "intra_var"))
    const = layer_metrics(np.ones((40, 8)))
    assert math.isnan(const["eff_rank"]) and const["dead_frac"] == 0.0
    assert const["constant_frac"] == 1.0
    absent = layer_metrics(x, np.where(np.arange(40) < 20, 3, 7))  # classes 3 and 7 only
    assert absent["n_classes"] == 2 and math.isfinite(absent["fisher"])


def test_negative_labels_are_unlabelled_rows():
    y = np.repeat([0, 1], 20)
    x = RNG.standard_normal((40, 3)) + 4.0 * y[:, None]
    ref = layer_metrics(x[:30], y[:30])
    y_missing = y.copy()
    y_missing[30:] = -1
    out = layer_metrics(x, y_missing)
    assert out["n_classes"] == 2 and out["fisher"] == pytest.approx(ref["fisher"])
    assert out["n_valid"] == 40  # the rows still count for the label-free metrics


def _cka_reference(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(0), b - b.mean(0)
    return float(np.linalg.norm(a.T @ b) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))


@pytest.mark.parametrize("d", [3, 200])  # feature-space path and wide (D > N) Gram path
def test_cka_matches_definition_with_dropped_rows(d):
    a = RNG.standard_normal((60, d))
    b = a @ RNG.standard_normal((d, d)) * 0.3 + RNG.standard_normal((60, d))
    st = LayerState()
    layer_metrics(a, None, st)
    out = layer_metrics(b, None, st)
    assert out["cka_prev"] == pytest.approx(_cka_reference(a, b), rel=1e-4)
    bad = b.copy()
    bad[[5, 9]] = np.nan  # different rows valid in the two frames: compare on the common rows
    keep = np.ones(60, bool)
    keep[[5, 9]] = False
    out = layer_metrics(bad, None, st)
    assert out["cka_prev"] == pytest.approx(_cka_reference(b[keep], b[keep]), rel=1e-4)
    assert out["cka_ref"] == pytest.approx(_cka_reference(a[keep], b[keep]), rel=1e-4)
    assert math.isnan(out["knn_jaccard_prev"])  # different valid rows: not comparable
