"""Alert rules on synthetic streams: silence on noise, prompt alerts on real changes."""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

import sentrycam.alerts as A

Alert, AlertEngine, alert_steps = A.Alert, A.AlertEngine, A.alert_steps


@pytest.mark.parametrize("seed", range(5))
def test_flat_noisy_stream_raises_nothing(seed):
    rng = np.random.default_rng(seed)
    vals = 5.0 + 0.1 * rng.standard_normal(300)
    assert alert_steps(vals, direction=-1) == []
    assert alert_steps(vals, direction=+1) == []


def test_steady_trend_is_not_a_change():
    rng = np.random.default_rng(1)
    t = np.arange(200)
    vals = 10.0 - 0.02 * t + 0.01 * rng.standard_normal(200)  # falling steadily, the bad way
    assert alert_steps(vals, direction=-1) == []


@pytest.mark.parametrize("seed", range(3))
def test_wrong_way_step_change_alerts_promptly(seed):
    rng = np.random.default_rng(seed)
    vals = 5.0 + 0.1 * rng.standard_normal(100)
    vals[60:] -= 2.0  # a drop of 20 sigma of the level noise at index 60
    steps = alert_steps(vals, direction=-1)
    assert steps and 60 <= steps[0] <= 61
    assert alert_steps(vals, direction=+1) == []  # a drop is fine for a metric where up is bad


def test_gradual_wrong_way_drift_alerts_through_cusum():
    rng = np.random.default_rng(3)
    vals = 1.0 + 0.01 * rng.standard_normal(150)
    vals[80:] += 0.07 * np.arange(70)  # a few sigma of the increments' noise per step
    cusum_only = alert_steps(vals, direction=+1, z_jump=1e9)  # no single-jump alarm possible
    assert cusum_only and 80 <= cusum_only[0] <= 92
    assert alert_steps(vals, direction=-1) == []


def test_robust_rule_silent_during_warmup():
    vals = [1.0, 1.0, 50.0, -20.0, 1.0, 1.0]
    assert alert_steps(vals, direction=+1) == []


def test_sentrycam_rule_on_constructed_sequence():
    # burn-in of 5, then history with std ~0.5; two wrong-way (up) moves, the last 0.3 > 0.2 x std
    base = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.5]
    seq = [*base, 1.7, 2.0]
    assert alert_steps(seq, rule="sentrycam", direction=+1) == [12]
    # the same shape with a tiny last move does not fire
    assert alert_steps([*base, 1.7, 1.71], rule="sentrycam", direction=+1) == []
    # down is the right way for this metric
    assert alert_steps([*base, 1.3, 1.0], rule="sentrycam", direction=+1) == []


def test_sentrycam_rule_respects_burn_in():
    assert alert_steps([0.0, 1.0, 2.0, 3.0, 4.0], rule="sentrycam", direction=+1) == []
    assert alert_steps([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], rule="sentrycam", direction=+1)


def test_one_alert_per_episode_and_rearm():
    eng = AlertEngine(rearm=3)
    out = []
    for step in range(40):
        frac = 0.0 if step < 10 or 20 <= step < 30 else 0.8
        out += eng.update(step, "fc1", {"dead_frac": frac})
    death = [a for a in out if a.rule == "death"]
    assert [a.step for a in death] == [10, 30]


def test_hard_alerts():
    eng = AlertEngine()
    for step in range(12):
        assert eng.update(step, "fc", {"norm_mean": 1.0 + 0.01 * step, "nonfinite_frac": 0.0}) == []
    out = eng.update(12, "fc", {"norm_mean": 50.0, "nonfinite_frac": 0.01})
    rules = {a.rule: a for a in out}
    assert rules["norm"].severity == "critical" and rules["nonfinite"].severity == "critical"
    loss = eng.update(13, None, {"loss": float("nan")})
    assert [(a.rule, a.severity, a.layer) for a in loss] == [("nonfinite", "critical", None)]


def test_dead_fraction_jump_alerts():
    eng = AlertEngine(rules=())
    for step in range(10):
        assert eng.update(step, "fc", {"dead_frac": 0.05}) == []
    assert [a.rule for a in eng.update(10, "fc", {"dead_frac": 0.35})] == ["death"]


def test_scalar_streams_use_name_directions():
    assert A.direction_of("val_loss") == 1
    assert A.direction_of("val_accuracy") == -1
    assert A.direction_of("fisher") == -1
    assert A.direction_of("lr") == 0
    eng = AlertEngine()
    rng = np.random.default_rng(0)
    fired = []
    for step in range(60):
        acc = 0.9 + 0.005 * rng.standard_normal() - (0.3 if step >= 40 else 0.0)
        lr = 0.1 * (10.0 if step >= 40 else 1.0)  # unknown direction: never trend-watched
        fired += eng.update(step, None, {"val_acc": acc, "lr": lr})
    # scalar jumps are confirmed one update later (the level stayed down)
    assert [(a.metric, a.step) for a in fired] == [("val_acc", 41)]


def test_one_off_scalar_spike_is_not_an_alert_but_a_probe_metric_jump_is():
    rng = np.random.default_rng(4)
    eng = AlertEngine()
    out = []
    for step in range(60):
        noise = 0.01 * rng.standard_normal()
        loss = 0.1 + noise + (2.0 if step == 40 else 0.0)  # one bad batch
        intra = 1.0 + noise + (2.0 if step >= 40 else 0.0)
        out += eng.update(step, None, {"loss": loss})
        out += eng.update(step, "fc", {"intra_var": intra})
    assert [(a.layer, a.metric, a.step) for a in out] == [("fc", "intra_var", 40)]


def test_alert_is_frozen_and_serialisable():
    a = Alert(3, "fc1", "fisher", "msg", "warning")
    assert a.rule == "" and math.isnan(a.value)
    with pytest.raises(FrozenInstanceError):
        a.step = 4  # type: ignore[misc]
    d = a.to_dict()
    assert d["value"] is None and json.loads(json.dumps(d))["metric"] == "fisher"


def test_unknown_rule_rejected():
    with pytest.raises(ValueError):
        AlertEngine(rules=("nope",))


def test_non_numeric_and_nan_values_ignored_by_trend_rules():
    eng = AlertEngine(hard=False)
    for step in range(30):
        v = float("nan") if step % 3 == 0 else 1.0
        assert eng.update(step, "fc", {"fisher": v, "cka_prev": "n/a"}) == []  # type: ignore[dict-item]
