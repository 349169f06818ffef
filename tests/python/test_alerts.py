"""Alert rules on synthetic streams: warm-up, windows in steps, evidence, and messages."""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

import sentrycam.alerts as A
from sentrycam.alerts import Warmup

Alert, AlertEngine, alert_steps = A.Alert, A.AlertEngine, A.alert_steps
WARM = Warmup()


@pytest.mark.parametrize("seed", range(5))
def test_flat_noisy_stream_raises_nothing(seed):
    rng = np.random.default_rng(seed)
    vals = 5.0 + 0.1 * rng.standard_normal(300)
    assert alert_steps(vals, direction=-1) == []
    assert alert_steps(vals, direction=+1) == []


@pytest.mark.parametrize("direction", [-1, +1])
def test_steady_trends_either_way_are_not_changes(direction):
    rng = np.random.default_rng(1)
    t = np.arange(200)
    vals = 10.0 - 0.02 * t + 0.01 * rng.standard_normal(200)
    assert alert_steps(vals, direction=direction) == []


def test_healthy_curve_that_flattens_is_no_alarm():
    """A loss-like decay that levels off (right way, then standing still)."""
    t = np.arange(300) * 10.0
    vals = 0.2 + 2.0 * np.exp(-t / 400.0)
    assert alert_steps(vals, direction=+1) == []


def test_early_wrong_way_growth_is_the_baseline_not_a_change():
    """Norms grow several-fold in the first steps of a run, steadily: that is not an explosion."""
    t = np.arange(0, 1000, 10)
    vals = 1.35 * (1 + 9 * (1 - np.exp(-t / 300)))
    assert alert_steps(vals, t, direction=+1) == []


@pytest.mark.parametrize("seed", range(3))
def test_wrong_way_step_change_alerts_at_once(seed):
    rng = np.random.default_rng(seed)
    vals = 5.0 + 0.1 * rng.standard_normal(100)
    vals[60:] -= 2.0  # a drop of 20 sigma of the level noise at step 600
    assert alert_steps(vals, direction=-1) == [600]
    assert alert_steps(vals, direction=+1) == []  # a drop is fine for a metric where up is bad


def test_accelerating_drift_alerts():
    rng = np.random.default_rng(3)
    vals = 1.0 + 0.01 * rng.standard_normal(150)
    vals[80:] += 0.001 * np.arange(70) ** 2
    got = alert_steps(vals, direction=+1, z_jump=1e9)
    assert got and 820 <= got[0] <= 920


def test_gradual_wrong_way_drift_alerts_once_it_lasts():
    """A drift of two spreads per capture from step 800 (one spread per capture is slow enough
    to become the trend-aware baseline: the price of not alarming on healthy monotone trends)."""
    rng = np.random.default_rng(3)
    vals = 1.0 + 0.01 * rng.standard_normal(150)
    vals[80:] += 0.02 * np.arange(70)
    sustained = alert_steps(vals, direction=+1, z_jump=1e9)  # no jump alarm possible
    assert sustained and 840 <= sustained[0] <= 920
    assert alert_steps(vals, direction=-1) == []


def _cadence_run(every: int, onset: int = 1200, end: int = 2400) -> list[int]:
    """One noisy process (a value per step) with a level drop at ``onset``, captured every
    ``every`` steps."""
    rng = np.random.default_rng(7)
    per_step = 3.0 + 0.03 * rng.standard_normal(end + 1)
    per_step[onset:] -= 0.6  # 20 sigma
    steps = np.arange(0, end + 1, every)
    return alert_steps(per_step[steps], steps, direction=-1)


def test_the_same_run_at_three_cadences_alerts_at_the_same_step():
    got = {every: _cadence_run(every) for every in (5, 10, 50)}
    assert got == {5: [1200], 10: [1200], 50: [1200]}


def _drift_run(every: int) -> list[int]:
    rng = np.random.default_rng(8)
    per_step = 3.0 + 0.03 * rng.standard_normal(2401)
    per_step[1000:] += 0.004 * np.arange(1401)  # a slow wrong-way drift from step 1000
    steps = np.arange(0, 2401, every)
    return alert_steps(per_step[steps], steps, direction=+1, z_jump=1e9)


def test_a_drift_at_three_cadences_alerts_within_one_coarse_capture():
    got = {every: _drift_run(every) for every in (5, 10, 50)}
    firsts = [v[0] for v in got.values()]
    assert all(len(v) == 1 for v in got.values()), got
    assert max(firsts) - min(firsts) <= 50 + 10, got
    assert 1000 < min(firsts) <= 1200


@pytest.mark.parametrize("every", [1, 10, 50])
def test_no_trend_rule_fires_during_the_warmup(every):
    """Warm-up counts steps and frames: wild trend values early on raise nothing (the absolute
    rules, judged against earlier frames, see steady norms and units here)."""
    eng = AlertEngine()
    rng = np.random.default_rng(0)
    out = []
    steps = range(0, WARM.steps * 2, every)
    for i, s in enumerate(steps):
        warm = s - steps[0] >= WARM.steps and i >= WARM.frames
        if warm:
            break
        vals = {m: float(rng.uniform(0.1, 100.0)) for m in A.DIRECTIONS}
        vals["norm_mean"] = float(rng.uniform(5.0, 20.0))  # within 10x of each other
        vals["dead_frac"] = vals["constant_frac"] = float(rng.uniform(0, 0.2))
        out += eng.update(s, "fc1", vals)
    assert out == []
    assert [a.rule for a in eng.update(s + every, "fc1", {"nonfinite_frac": 0.2})] == ["nonfinite"]


@pytest.mark.parametrize("every", [10, 50, 100])
def test_absolute_rules_work_once_the_warmup_is_done(every):
    """Below EARLY_NORM_LIMIT not from the second frame: a library model's first frames grow
    20-1000x from its init."""
    eng = AlertEngine()
    assert eng.update(0, "fc1", {"norm_mean": 0.01, "dead_frac": 0.05}) == []
    assert eng.update(every, "fc1", {"norm_mean": 10.0, "dead_frac": 0.05}) == []
    steps = range(2 * every, 2 * every + max(WARM.steps, WARM.frames * every) + every, every)
    for s in steps:
        assert eng.update(s, "fc1", {"norm_mean": 10.0, "dead_frac": 0.05}) == []
    out = eng.update(s + every, "fc1", {"norm_mean": 400.0, "dead_frac": 0.05})
    assert [(a.rule, a.severity) for a in out] == [("norm", "critical")]


@pytest.mark.parametrize("every", [10, 50])
def test_a_diverging_layer_is_an_explosion_from_the_second_frame(every):
    """Before the warm-up, growth to a small level is a fresh network's (EfficientNet: x5,000,000
    to 0.8 at step 10); growth past EARLY_NORM_LIMIT is a divergence, told before it is NaN."""
    eng = AlertEngine()
    assert eng.update(0, "fc1", {"norm_mean": 2e-7}) == []
    assert eng.update(every, "fc1", {"norm_mean": 0.8}) == []  # x4,000,000: healthy
    out = eng.update(2 * every, "fc1", {"norm_mean": 3e19})
    assert [(a.rule, a.severity, a.layer) for a in out] == [("norm", "critical", "fc1")]
    assert "10^19" in out[0].message or "10^20" in out[0].message
    # a layer that starts huge and stays there is no explosion
    eng = AlertEngine()
    for s in range(0, 5 * every, every):
        assert eng.update(s, "fc1", {"norm_mean": 5e6}) == []


def test_nonfinite_is_immediate_at_step_zero():
    eng = AlertEngine()
    out = eng.update(0, "fc1", {"nonfinite_frac": 0.01, "norm_mean": 1.0})
    assert [(a.rule, a.severity) for a in out] == [("nonfinite", "critical")]
    assert "non-finite" in out[0].message and "learning rate" in out[0].message
    assert eng.update(0, None, {"loss": float("inf")}) == []  # the same incident: it joins
    assert out[0].evidence["incident"]["also"] == [
        {"step": 0, "layer": None, "metric": "loss", "rule": "nonfinite", "severity": "critical"}
    ]
    assert eng.take_updated() == [out[0]]


def test_regression_dead_units_at_step_zero_are_not_an_alert():
    """`fc1: 30% of units are dead (running median 0%)` at step 0: a rule against no history."""
    eng = AlertEngine()
    assert eng.update(0, "fc1", {"dead_frac": 0.30}) == []
    for s in range(10, 200, 10):  # a fresh network's dead fraction moves early on
        assert eng.update(s, "fc1", {"dead_frac": 0.30 - 0.001 * s}) == []


def test_regression_early_norm_growth_is_not_an_explosion():
    """`fc1: activation norm 17.33 > 10x running median 1.35` at step 50."""
    eng = AlertEngine()
    norms = {0: 1.35, 10: 1.4, 20: 2.5, 30: 5.0, 40: 9.0, 50: 17.33, 60: 19.0, 70: 20.0}
    out = []
    for s, v in norms.items():
        out += eng.update(s, "fc1", {"norm_mean": v})
    for s in range(80, 600, 10):
        out += eng.update(s, "fc1", {"norm_mean": 20.0 + 0.01 * s})
    assert out == []


def _warm_engine(metric: str, level: float, n: int = 40, noise: float = 0.01) -> AlertEngine:
    eng = AlertEngine()
    rng = np.random.default_rng(5)
    for s in range(0, 10 * n, 10):
        assert eng.update(s, "fc", {metric: level * (1 + noise * rng.standard_normal())}) == []
    return eng


def test_hard_rules_after_the_warmup():
    eng = _warm_engine("norm_mean", 2.0)
    out = eng.update(400, "fc", {"norm_mean": 50.0})
    rules = {a.rule: a for a in out}
    assert rules["norm"].severity == "critical"
    assert rules["norm"].evidence["threshold"] == pytest.approx(10 * 2.0, rel=0.05)
    eng = _warm_engine("dead_frac", 0.05, noise=0.0)
    # the hard rule tells; the trend rule on the same metric keeps quiet about it
    assert [a.rule for a in eng.update(400, "fc", {"dead_frac": 0.35})] == ["death"]


def test_stopped_layer_alerts_after_it_stays_still():
    eng = AlertEngine()
    rng = np.random.default_rng(2)
    out = []
    for s in range(10, 1000, 10):
        change = 0.02 * (1 + 0.2 * rng.standard_normal()) if s < 500 else 0.0
        out += eng.update(s, "fc1", {"change_prev": change})
    assert [(a.rule, a.step) for a in out] == [("stopped", 590)]  # still since 490
    ev = out[0].evidence
    assert ev["kind"] == "frozen" and ev["per_step"] and ev["values"][-1] == 0.0
    assert "stopped learning" in out[0].message and "requires_grad" in out[0].message


def test_learning_rate_decay_is_not_a_stopped_layer():
    eng = AlertEngine()
    out = []
    for s in range(10, 2000, 10):
        out += eng.update(s, "fc1", {"change_prev": 0.02 if s < 1000 else 0.002})
    assert out == []


def _jittering_layer(lr_after: float | None) -> list:
    """A layer learning at a steady rate, whose change falls to 30% at step 1000 (a frozen
    layer under BatchNorm still jitters); the learning rate 0.1 is passed from step 0, and
    ``lr_after`` from step 1000 (None: no learning rate at all)."""
    eng = AlertEngine()
    rng = np.random.default_rng(3)
    out = []
    for s in range(0, 1600, 10):
        if lr_after is not None:
            eng.preview(s, {"lr": 0.1 if s < 1000 else lr_after})
        if s:
            level = 0.2 if s < 1000 else 0.06
            out += eng.update(
                s, "layer2", {"change_prev": level * (1 + 0.1 * rng.standard_normal())}
            )
        if lr_after is not None:
            out += eng.update(s, None, {"lr": 0.1 if s < 1000 else lr_after})
    return out


def test_a_layer_that_only_jitters_while_the_learning_rate_holds_has_stopped():
    out = _jittering_layer(lr_after=0.1)
    assert [(a.rule, a.layer) for a in out] == [("stopped", "layer2")]
    assert 1090 <= out[0].step <= 1150  # still since the frame before the drop, 100 steps
    assert "under 40% of its usual change" in out[0].message
    assert "learning rate held" in out[0].message and "BatchNorm" in out[0].message
    # the same slowdown from a step decay of the learning rate, or with no learning rate passed,
    # is no failure: only a layer that all but stops (1% of its usual change) is told then
    assert _jittering_layer(lr_after=0.01) == []
    assert _jittering_layer(lr_after=None) == []


def test_evidence_of_a_jump():
    rng = np.random.default_rng(0)
    eng = AlertEngine()
    for s in range(0, 400, 10):
        eng.update(s, "fc1", {"eff_rank": 20.0 + 0.1 * rng.standard_normal()})
    (a,) = eng.update(400, "fc1", {"eff_rank": 11.0})
    ev = a.evidence
    assert a.rule == "robust" and a.metric == "eff_rank" and ev["kind"] == "jump"
    assert ev["steps"][-1] == 400 and ev["values"][-1] == 11.0 and len(ev["steps"]) == 41
    assert ev["reference"] == pytest.approx(20.0, abs=0.2)
    assert 0.03 < ev["spread"] < 0.3
    assert ev["direction"] == -1 and ev["threshold"] < ev["reference"] and a.value < ev["threshold"]
    lo, hi = ev["window"]
    assert hi <= 400 - 50 and hi - lo <= 200
    assert a.message.startswith("fc1: effective rank (RankMe) fell 45% in")
    assert "collapsing" in a.message and a.message.endswith("?")
    d = json.loads(json.dumps(a.to_dict()))
    assert d["evidence"]["kind"] == "jump" and d["evidence"]["values"][-1] == 11.0


def test_messages_name_causes_for_every_watched_metric():
    for metric, direction in A.DIRECTIONS.items():
        eng = _warm_engine(metric, 0.5)
        bad = 0.5 + direction * 0.45
        alerts = eng.update(400, "fc", {metric: bad})
        if metric in A.BETWEEN_FRAMES:  # a jump of these must hold at the next frame
            assert alerts == [], metric
            alerts = eng.update(410, "fc", {metric: bad})
        assert alerts, metric
        msg = alerts[0].message
        assert msg.startswith("fc: ") and " — " in msg and msg.endswith("?"), msg


def test_one_alert_per_episode_and_rearm_in_steps():
    eng = AlertEngine(rules=(), rearm_steps=50)
    for s in range(0, 300, 10):
        eng.update(s, "fc1", {"nonfinite_frac": 0.0})
    out = []
    for s in range(300, 600, 10):
        bad = 300 <= s < 400 or 460 <= s < 500
        out += eng.update(s, "fc1", {"nonfinite_frac": 0.1 if bad else 0.0})
    assert [a.step for a in out] == [300, 460]


def test_steps_going_backwards_start_a_new_run():
    eng = _warm_engine("fisher", 3.0)
    assert eng.update(0, "fc", {"fisher": 0.5}) == []  # a restart: no history to compare with
    assert eng.update(10, "fc", {"fisher": 3.0}) == []


def test_scalar_streams_use_name_directions():
    assert A.direction_of("val_loss") == 1
    assert A.direction_of("val_accuracy") == -1
    assert A.direction_of("fisher") == -1
    assert A.direction_of("lr") == 0
    eng = AlertEngine()
    rng = np.random.default_rng(0)
    fired = []
    for s in range(0, 600, 10):
        acc = 0.9 + 0.005 * rng.standard_normal() - (0.3 if s >= 400 else 0.0)
        lr = 0.1 * (10.0 if s >= 400 else 1.0)  # unknown direction: never trend-watched
        fired += eng.update(s, None, {"val_acc": acc, "lr": lr})
    # scalar jumps are confirmed one update later (the level stayed down)
    assert [(a.metric, a.step) for a in fired] == [("val_acc", 410)]
    assert "accuracy is falling" in fired[0].message


def test_one_off_scalar_spike_is_not_an_alert_but_a_probe_metric_jump_is():
    rng = np.random.default_rng(4)
    eng = AlertEngine()
    out = []
    for s in range(0, 600, 10):
        noise = 0.01 * rng.standard_normal()
        loss = 0.1 + noise + (2.0 if s == 400 else 0.0)  # one bad batch
        norm = 1.0 + noise + (2.0 if s >= 400 else 0.0)
        out += eng.update(s, None, {"loss": loss})
        out += eng.update(s, "fc", {"norm_mean": norm})
    assert [(a.layer, a.metric, a.step) for a in out] == [("fc", "norm_mean", 400)]


def test_sentrycam_rule_on_constructed_sequence():
    # burn-in of 5, then history with std ~0.5; two wrong-way (up) moves, the last 0.3 > 0.2 x std
    base = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.5]
    seq = [*base, 1.7, 2.0]
    assert alert_steps(seq, rule="sentrycam", direction=+1) == [120]
    # the same shape with a tiny last move does not fire
    assert alert_steps([*base, 1.7, 1.71], rule="sentrycam", direction=+1) == []
    # down is the right way for this metric
    assert alert_steps([*base, 1.3, 1.0], rule="sentrycam", direction=+1) == []


def test_sentrycam_rule_respects_burn_in():
    assert alert_steps([0.0, 1.0, 2.0, 3.0, 4.0], rule="sentrycam", direction=+1) == []
    assert alert_steps([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], rule="sentrycam", direction=+1)


def test_alert_is_frozen_and_serialisable():
    a = Alert(3, "fc1", "fisher", "msg", "warning", evidence={"values": [1.0, math.nan]})
    assert a.rule == "" and math.isnan(a.value)
    with pytest.raises(FrozenInstanceError):
        a.step = 4  # type: ignore[misc]
    d = a.to_dict()
    assert d["value"] is None and json.loads(json.dumps(d))["metric"] == "fisher"
    assert d["evidence"] == {"values": [1.0, None]}


def test_unknown_rule_rejected():
    with pytest.raises(ValueError):
        AlertEngine(rules=("nope",))


def test_non_numeric_and_nan_values_ignored_by_trend_rules():
    eng = AlertEngine(hard=False)
    for s in range(0, 600, 10):
        v = float("nan") if s % 30 == 0 else 1.0
        assert eng.update(s, "fc", {"fisher": v, "cka_prev": "n/a"}) == []  # type: ignore[dict-item]


def test_monitor_takes_your_own_engine():
    import sentrycam

    eng = sentrycam.AlertEngine(rules=("robust", "sentrycam"))
    cam = sentrycam.Monitor(layers=["h"], every=1, sync=True, alerts=eng)
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    for s in range(0, 300, 10):
        cam.log(s, {"h": rng.standard_normal((60, 4)).astype(np.float32)}, labels=labels)
    with pytest.warns(sentrycam.SentrycamWarning, match="non-finite"):
        cam.log(300, {"h": np.full((60, 4), np.nan, np.float32)}, labels=labels)
    cam.close()
    assert ("h", "fisher") in eng.streams, "the monitor fed your engine"
    assert cam.alerts[-1].rule == "nonfinite"
    assert {r for st in eng.streams.values() for r in st.rules} == {"robust", "sentrycam"}


@pytest.mark.parametrize("every", [25, 50, 100])
def test_sparse_cadences_stay_quiet_on_noise(every):
    """A sparse cadence reaches further back for enough reference points (six frames of a layer
    metric), and a metric's minimum effect keeps a spread measured on them from calling noise a
    change."""
    rng = np.random.default_rng(every)
    eng = AlertEngine()
    out = []
    for i in range(400):
        vals = {m: 1.0 + 0.05 * rng.standard_normal() for m in ("fisher", "norm_mean", "eff_rank")}
        out += eng.update(i * every, "fc", vals)
    assert out == []


def test_a_learning_rate_warmup_holds_the_rules():
    """While the lr you pass rises from the start (a schedule's warm-up), and a warm-up after,
    only non-finite values alert; a later spike of the lr is judged as usual."""
    eng = AlertEngine()
    out = []
    for s in range(0, 2000, 10):
        lr = 1e-3 * min(1.0, (s + 10) / 1000)
        norm = 1.0 + (s / 1000) ** 3 * 5 if s < 1000 else 6.0  # accelerating with the lr
        out += eng.update(s, None, {"lr": lr})
        out += eng.update(s, "fc", {"norm_mean": norm})
    assert out == [] and eng.hold_until == 990 + WARM.steps
    eng.update(2000, None, {"lr": 3e-2})
    assert [a.rule for a in eng.update(2000, "fc", {"norm_mean": 90.0})] == ["norm"]
    assert [a.rule for a in eng.update(2010, "fc", {"nonfinite_frac": 0.5})] == ["nonfinite"]


def test_stopped_rule_compares_changes_over_similar_gaps():
    """A budget-stretched cadence: changes over 500-step gaps are not 100x those over 5."""
    eng = AlertEngine()
    rng = np.random.default_rng(1)
    out = []
    steps = [*range(5, 1000, 5), *range(1000, 5001, 500)]
    for s in steps:
        out += eng.update(s, "fc", {"change_prev": 0.02 * (1 + 0.1 * rng.standard_normal())})
    assert out == []


def test_warmup_counts_finite_values_only():
    eng = AlertEngine()
    out = []
    for s in range(0, 1300, 10):
        v = math.nan if s < 1000 else 1.0 + (5.0 if s == 1100 else 0.001 * (s % 20))
        out += eng.update(s, "fc", {"norm_mean": v})
    assert out == []  # 1100 is only 100 steps into the stream's real history


def test_the_worst_alert_tells_whatever_the_rule_order():
    for rules in (("robust", "sentrycam"), ("sentrycam", "robust")):
        eng = AlertEngine(rules=rules)
        rng = np.random.default_rng(2)
        for s in range(0, 400, 10):
            eng.update(s, "fc", {"fisher": 3.0 + 0.01 * rng.standard_normal()})
        assert [a.severity for a in eng.update(400, "fc", {"fisher": 1.0})] == ["warning"]


def test_restart_keeps_the_first_frame_and_nonfinite_duplicates_alert():
    eng = _warm_engine("fisher", 3.0)
    eng.update(0, "fc", {"fisher": 0.5})
    assert eng.streams[("fc", "fisher")].history.first_step == 0
    eng.update(10, None, {"loss": 1.0})
    assert [a.rule for a in eng.update(10, None, {"loss": math.nan})] == ["nonfinite"]


def test_sustained_alert_tells_the_mean_departure_and_when_it_began():
    rng = np.random.default_rng(3)
    eng = AlertEngine()
    out = []
    for s in range(0, 1200, 5):
        v = 1.0 + 0.01 * rng.standard_normal() + (0.08 if s >= 1000 else 0.0)
        out += eng.update(s, None, {"val_loss": v})
    (a,) = out
    ev = a.evidence
    assert ev["kind"] in ("sustained", "jump") and ev["since"] >= 1000
    assert "val_loss rose" in a.message and "the loss is rising" in a.message


@pytest.mark.parametrize(
    ("value", "ref", "told"),
    [
        (2.9e38, 1.0, "grew by a factor of 10^38"),
        (12.0, 1.0, "grew by a factor of 12"),
        (0.03, 1.0, "fell to 3% of its level"),
        (2e-4, 1.0, "fell to 0.02% of its level"),
        (1e-7, 1.0, "fell to 10^-7 of its level"),
        (0.0, 2.5, "fell to 0 (usually 2.5)"),
        (0.5, 1.0, "fell 50%"),
    ],
)
def test_numbers_in_messages_are_readable(value, ref, told):
    from sentrycam.alerts._explain import explain
    from sentrycam.alerts._rules import Verdict

    kind = "explosion" if value > ref else "jump"
    msg = explain("norm_mean", "fc1", Verdict(kind, ref, 0.1, 2 * ref), value, 100, +1)
    assert told in msg, msg
    assert "e+" not in msg and "0.0x" not in msg


def test_an_explosion_from_a_huge_level_reads_without_exponents():
    from sentrycam.alerts._explain import explain
    from sentrycam.alerts._rules import Verdict

    msg = explain("norm_mean", "fc1", Verdict("explosion", 3e20, 1e19, 3e21), 4e38, 100, +1)
    assert "by a factor of 10^18" in msg and "3x10^20" in msg and "e+" not in msg, msg


def test_a_one_frame_dip_between_frames_is_not_an_alert():
    """EfficientNet at a noisy step: CKA to the previous frame 0.986 -> 0.939 -> 0.994. A
    between-frame metric's jump must hold at the next frame; a lasting drop is told there."""
    rng = np.random.default_rng(3)

    def run(dip: list[float]) -> list:
        eng, out = AlertEngine(), []
        for s in range(0, 600, 10):
            v = dip[(s - 500) // 10] if s >= 500 else 0.986 + 0.003 * rng.standard_normal()
            out += eng.update(s, "features.6", {"cka_prev": v})
        return out

    assert run([0.939] + [0.994] * 9) == []
    told = run([0.939] * 10)
    assert [(a.step, a.metric) for a in told] == [(510, "cka_prev")]


def test_a_loss_near_zero_that_wanders_is_not_rising():
    """A training loss down from 2.3 to ~0.0006 that reads 0.003 at one capture: x5, and zero."""
    eng, out = AlertEngine(), []
    rng = np.random.default_rng(8)
    for s in range(0, 1000, 10):
        level = 2.3 * np.exp(-s / 40) + 6e-4 * (1 + 0.3 * rng.standard_normal())
        out += eng.update(s, None, {"loss": 0.003 if s in (960, 970) else float(level)})
    assert out == []
    out = eng.update(1000, None, {"loss": 0.9})  # a real rise is told (after its confirmation)
    out += eng.update(1010, None, {"loss": 0.9})
    assert [a.metric for a in out] == ["loss"]
