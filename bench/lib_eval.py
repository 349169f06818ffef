"""Evaluation of the scored library runs: false alarms, detection, delays against the calibrated
validation-loss rule, layer naming, alerts per incident, and leave-one-family-out settings.

A "setting" has two numbers: the multiplier of the val-loss rule's thresholds (diag_detect's
calibration: the smallest multiplier on GRID that keeps every healthy run chosen from silent,
leaving out runs it alarms on at every finite multiplier; see ``choose_val_loss``) and
the multiplier of the product's robust-rule thresholds (``AlertEngine(params={"robust":
{"z_jump": 8 m, "z_sustain": 5 m}})``, the only thresholds the engine exposes; the hard rules
have fixed constants): the smallest one with the fewest healthy runs chosen from raising a warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from diag_detect import GRID, median
from lib_models import FAMILIES
from lib_score import CADENCES, judge, val_loss_delay

SPLITS = ("dev", "test")
#: Failures that hit the model at once (as in diagnostic.py): the val loss moves at the first
#: capture after the onset too, so the product can at best tie with it there.
SUDDEN = ("lr_spike", "shift_sudden", "label_shuffle")


def expected_layers(run: dict) -> tuple[str, ...] | None:
    """The watched layers a single-layer failure hits (None: not a single-layer failure)."""
    if run["kind"] == "frozen":
        return (run["layers"][0],)
    if run["kind"] == "dead_relu":
        return FAMILIES[run["family"]].dead_layers
    return None


#: The last GRID multiplier (1e9) leaves the val-loss rule nothing but its non-finite check.
OFF = GRID[-1]


def choose_val_loss(healthy: list[dict], every: int) -> tuple[float, float, list[str]]:
    """The val-loss rule's multiplier: the smallest on GRID with no alert on any of these healthy
    runs it can be silenced on (finite thresholds), that with no alert on any of them (strict;
    ``OFF`` when one alarms at every finite multiplier), and those runs."""
    ms = {r["name"]: r["cadences"][every]["val_loss_mult_clean"] for r in healthy}
    loud = sorted(n for n, m in ms.items() if m >= OFF)
    usable = max((m for m in ms.values() if m < OFF), default=GRID[0])
    return usable, max(ms.values(), default=GRID[0]), loud


def choose_product(healthy: list[dict], every: int) -> tuple[float, int]:
    """The smallest GRID multiplier with the fewest of these healthy runs alerting, and that
    number (a run that alerts at every multiplier is one the hard rules or scalars flag)."""
    ms = [r["cadences"][every]["product_mult_clean"] for r in healthy]
    finite = [m for m in ms if math.isfinite(m)]
    return max(finite, default=1.0), len(ms) - len(finite)


def rows(runs: list[dict], every: int, vl_mult: float, alerts_of: Callable | None = None) -> list:
    """One judged row per run: the product's alerts (stock, or ``alerts_of(run)``) and the
    val-loss rule at ``vl_mult``."""
    out = []
    for r in runs:
        cad = r["cadences"][every]
        alerts = cad["alerts"] if alerts_of is None else alerts_of(r)
        p = judge(alerts, r["onset"])
        vl = val_loss_delay(cad, r["onset"], vl_mult)
        exp = expected_layers(r)
        named = None
        if exp is not None and p["first"] is not None:
            named = p["first"]["layer"] in exp
        out.append({
            "name": r["name"], "family": r["family"], "kind": r["kind"], "onset": r["onset"],
            "split": r["split"], "variant": r["variant"], "product": p, "val_loss": vl,
            "single_layer": exp is not None, "names_layer": named,
            "healthy_alerts": [a for a in alerts if r["onset"] is None],
        })  # fmt: skip
    return out


def _d(row: dict, key: str) -> float:
    d = row[key]["delay"]
    return math.inf if d is None else float(d)


def summary(table: list[dict]) -> dict:
    """The figures of one group of judged rows."""
    healthy = [r for r in table if r["onset"] is None]
    fails = [r for r in table if r["onset"] is not None]
    dp = [_d(r, "product") for r in fails]
    dv = [_d(r, "val_loss") for r in fails]
    sudden = [i for i, r in enumerate(fails) if r["kind"] in SUDDEN]
    gradual = [i for i, r in enumerate(fails) if r["kind"] not in SUDDEN]
    single = [r for r in fails if r["single_layer"]]
    detected = [r for r in fails if r["product"]["first"] is not None]
    per_incident = [r["product"]["after"] for r in detected]
    mp, mv = median(dp), median(dv)
    return {
        "healthy_runs": len(healthy),
        "healthy_alerting": sum(r["product"]["false_alarms"] > 0 for r in healthy),
        "fail_on_warning_healthy": sum(r["product"]["false_alarms"] > 0 for r in healthy),
        "failures": len(fails),
        "detected": len(detected),
        "detected_incl_joined": sum(r["product"]["signal_delay"] is not None for r in fails),
        "pre_onset_alerting": sum(r["product"]["false_alarms"] > 0 for r in fails),
        "median_delay": mp,
        "val_loss_detected": sum(math.isfinite(x) for x in dv),
        "val_loss_median_delay": mv,
        "at_or_before": sum(a <= b for a, b in zip(dp, dv, strict=True)),
        "strictly_before": sum(a < b for a, b in zip(dp, dv, strict=True)),
        "strictly_before_gradual": sum(dp[i] < dv[i] for i in gradual),
        "gradual": len(gradual),
        "strictly_before_sudden": sum(dp[i] < dv[i] for i in sudden),
        "sudden": len(sudden),
        "median_delay_ratio": (mp / mv) if math.isfinite(mv) and mv > 0 else math.nan,
        "first_from_scalar": sum(r["product"]["first"]["layer"] is None for r in detected),
        "alerts_per_incident_median": median([float(x) for x in per_incident]),
        "alerts_per_incident_mean": (sum(per_incident) / len(per_incident))
        if per_incident
        else math.nan,
        "single_layer": len(single),
        "single_layer_detected": sum(r["names_layer"] is not None for r in single),
        "names_layer": sum(bool(r["names_layer"]) for r in single),
    }


def evaluate(scored: list[dict], replay_many: Callable) -> dict:
    """Stock figures per split, cadence and family; dev-calibrated and leave-one-family-out
    settings on the test runs. ``replay_many(runs, every, m)`` returns each run's alerts with
    the robust thresholds x ``m`` (a dict by run name)."""
    by_split = {s: [r for r in scored if r["split"] == s] for s in SPLITS}
    families = sorted({r["family"] for r in scored}, key=list(FAMILIES).index)
    out: dict = {"cadences": {}}
    for every in CADENCES:
        dev_healthy = [r for r in by_split["dev"] if r["onset"] is None]
        vl, strict, loud = choose_val_loss(dev_healthy, every)
        pm, stuck = choose_product(dev_healthy, every)
        e: dict = {"val_loss_mult": vl, "product_mult": pm, "dev_healthy_alerting_at_all": stuck}
        e |= {"val_loss_mult_strict": strict, "val_loss_loud_dev": loud}
        strict_rows = rows(by_split["test"], every, strict)
        e["test_vs_strict_val_loss"] = summary(strict_rows)
        e["rows"] = {s: rows(by_split[s], every, vl) for s in SPLITS}
        e["overall"] = {s: summary(e["rows"][s]) for s in SPLITS}
        e["families"] = {
            f: {s: summary([r for r in e["rows"][s] if r["family"] == f]) for s in SPLITS}
            for f in families
        }
        kinds = sorted({r["kind"] for r in scored})
        e["kinds"] = {
            k: {s: summary([r for r in e["rows"][s] if r["kind"] == k]) for s in SPLITS}
            for k in kinds
        }
        test = by_split["test"]
        if pm != 1.0:
            tuned = replay_many(test, every, pm)
            e["dev_calibrated_test"] = summary(
                rows(test, every, vl, lambda r, t=tuned: t[r["name"]])
            )
        else:
            e["dev_calibrated_test"] = e["overall"]["test"]
        e["lofo"] = {f: lofo(f, by_split, every, replay_many) for f in families}
        out["cadences"][every] = e
    out["families"] = families
    return out


def lofo(fam: str, by_split: dict, every: int, replay_many: Callable) -> dict:
    """Settings chosen on every other family's dev runs, reported on ``fam``'s test runs (next to
    the stock product and the val-loss rule calibrated on all dev runs)."""
    others = [r for r in by_split["dev"] if r["family"] != fam and r["onset"] is None]
    vl, _, _ = choose_val_loss(others, every)
    pm, stuck = choose_product(others, every)
    test = [r for r in by_split["test"] if r["family"] == fam]
    if pm != 1.0:
        tuned = replay_many(test, every, pm)
        table = rows(test, every, vl, lambda r: tuned[r["name"]])
    else:
        table = rows(test, every, vl)
    return {
        "val_loss_mult": vl,
        "product_mult": pm,
        "others_dev_healthy_alerting_at_all": stuck,
        "test": summary(table),
        "stock_test": summary(rows(test, every, vl)),
        "healthy_alerts": {r["name"]: r["healthy_alerts"] for r in table if r["onset"] is None},
    }
