"""The Auditor: metrics with per-layer state, alerts, and never raising on bad data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import sentrycam.alerts as audit
import sentrycam.metrics as metrics
from sentrycam import SentrycamWarning

Auditor = audit.Auditor

RNG = np.random.default_rng(0)

BAD_INPUTS = {
    "single_class": (RNG.standard_normal((30, 5)), np.zeros(30, int)),
    "absent_classes": (RNG.standard_normal((30, 5)), np.repeat([2, 7, 9], 10)),
    "labels_none": (RNG.standard_normal((30, 5)), None),
    "d1": (RNG.standard_normal((30, 1)), np.arange(30) % 3),
    "constant": (np.full((30, 5), 0.7), np.arange(30) % 3),
    "nan_inf": (np.where(RNG.random((30, 5)) < 0.2, np.nan, 1.0), np.arange(30) % 3),
    "all_inf": (np.full((30, 5), np.inf), np.arange(30) % 3),
    "n1": (RNG.standard_normal((1, 5)), np.array([1])),
    "empty": (np.zeros((0, 5)), np.zeros(0, int)),
    "label_mismatch": (RNG.standard_normal((30, 5)), np.arange(4)),
    "list_input": ([[1.0, 2.0], [3.0, 4.0], [5.0, 7.0]], [0, 1, 0]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_observe_never_raises_on_bad_data(case):
    x, y = BAD_INPUTS[case]
    aud = Auditor()
    for step in range(15):
        m, new = aud.observe(step, "fc", x, labels=y)
        assert set(metrics.METRIC_KEYS) <= set(m)
        assert isinstance(new, list)


def test_garbage_degrades_to_warning_and_nan_dict():
    aud = Auditor()
    with pytest.warns(SentrycamWarning, match="sentrycam"):
        m, new = aud.observe(0, "fc", "not an array")
    assert new == [] and all(math.isnan(v) for v in m.values())
    m, _ = aud.observe(1, "fc", np.ones((4, 3)), labels=object())  # unusable labels: ignored
    assert math.isnan(m["fisher"]) and m["n_valid"] == 4
    m, _ = aud.observe(2, "fc", np.eye(4), labels=np.array(["a", "b", "a", "b"]))
    assert m["n_classes"] == 2


def test_nonfinite_activations_raise_critical_alert_once():
    aud = Auditor()
    x = RNG.standard_normal((50, 4))
    bad = x.copy()
    bad[0, 0] = np.nan
    assert aud.observe(0, "fc", x)[1] == []
    _, new = aud.observe(1, "fc", bad)
    assert [(a.rule, a.severity, a.layer) for a in new] == [("nonfinite", "critical", "fc")]
    assert aud.observe(2, "fc", bad)[1] == []  # same episode: no repeat


def test_layers_keep_separate_state_and_cka():
    aud = Auditor()
    a, b = RNG.standard_normal((80, 6)), RNG.standard_normal((80, 6))
    aud.observe(0, "l1", a)
    aud.observe(0, "l2", b)
    m1, _ = aud.observe(1, "l1", a)
    m2, _ = aud.observe(1, "l2", b)
    assert m1["cka_prev"] == pytest.approx(1.0) and m2["cka_prev"] == pytest.approx(1.0)
    assert set(aud.states) == {"l1", "l2"}


def test_set_reference():
    aud = Auditor()
    ref = RNG.standard_normal((60, 4))
    aud.set_reference("fc", ref)
    m, _ = aud.observe(0, "fc", RNG.standard_normal((60, 4)))
    assert m["cka_ref"] < 0.3
    m, _ = aud.observe(1, "fc", ref * 2)
    assert m["cka_ref"] == pytest.approx(1.0)


def test_on_alert_called_synchronously_and_scalars():
    seen = []
    aud = Auditor(on_alert=seen.append)
    for step in range(20):
        assert aud.observe_scalars(step, {"loss": 1.0 - 0.01 * step, "lr": "bad"}) == []
    new = aud.observe_scalars(20, {"loss": float("inf")})
    assert seen == new and new[0].severity == "critical"
    assert aud.alerts == new


def test_dead_layer_raises_death_alert():
    aud = Auditor()
    x = np.abs(RNG.standard_normal((100, 20))) + 0.1
    for step in range(0, 300, 10):
        assert aud.observe(step, "relu", x + 0.01 * RNG.standard_normal(x.shape))[1] == []
    dead = x.copy()
    dead[:, :14] = 0.0
    new = aud.observe(300, "relu", dead)[1]
    assert "death" in {a.rule for a in new}


def test_torch_tensor_input():
    torch = pytest.importorskip("torch")
    aud = Auditor()
    x = torch.randn(64, 8)
    m, _ = aud.observe(0, "fc", x, labels=torch.arange(64) % 4)
    assert m["n_classes"] == 4 and math.isfinite(m["fisher"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for ordinary tensors, even with NaN
        x[0, 0] = float("nan")
        m, _ = aud.observe(1, "fc", x, labels=torch.arange(64) % 4)
    assert m["n_valid"] == 63


def test_engine_error_is_contained(monkeypatch):
    aud = Auditor()

    def boom(*_a, **_k):
        raise RuntimeError("engine bug")

    monkeypatch.setattr(aud.engine, "update", boom)
    with pytest.warns(SentrycamWarning, match="alert engine"):
        m, new = aud.observe(0, "fc", RNG.standard_normal((10, 3)))
    assert new == [] and m["n_valid"] == 10
