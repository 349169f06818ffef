"""Markdown report of the diagnostic benchmark: dev and test seeds side by side."""

from __future__ import annotations

import math
from collections import Counter

from diag_detect import DETECTORS, delay_of, median

SPLITS = ("dev", "test")

HEADER = """# Diagnostic benchmark

`.venv/bin/python bench/diagnostic.py` (written by it; all CPU). Runs: an MLP (64-128-128-10) and
a CNN with BatchNorm on scikit-learn digits, and a two-layer transformer encoder on generated
token sequences classified by a planted motif; SGD + momentum with step decay, or AdamW with
linear warm-up and cosine decay; healthy variants with two widths, two batch sizes, dropout and
weight decay. Failures begin at a known onset step (see `bench/diag_runs.py`). A frame every 10
steps: two hidden layers on a fixed probe, loss and accuracy on a fixed validation set.

Detectors: `geometry` = `AlertEngine()` defaults on every metric of both layers (the robust rule
and the hard rules), exactly what `Monitor` runs; `val_loss` / `val_acc` = the same robust rule
(+ non-finite check) on that curve; `sentrycam` = SentryCam's rule on intra-class variance and
inter-class centroid distance. Stock: multiplier 1 on the rule's thresholds. Calibrated: the
smallest multiplier on a fixed grid with no alert on any healthy run of the **dev** seeds (the
test seeds reuse it). Delay: steps from the onset to the first alert at or after it (median;
`miss` = never). False alarms: alerts on healthy runs and before the onset of failure runs, per
1,000 such steps. Lead: the calibrated `val_loss` rule's delay minus the detector's (a miss counts
as never; both missing is a tie). One configuration for every run.

"""


def _f(x, digits: int = 0) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        if math.isinf(x):
            return "miss" if x > 0 else "-miss"
        if math.isnan(x):
            return "—"
        return f"{x:.{digits}f}"
    return str(x)


def _pct(a: int, n: int) -> str:
    return f"{a}/{n} ({100.0 * a / n:.0f}%)" if n else "—"


def summary(ev: dict, cal: dict) -> list[str]:
    lines = [
        "| detector | setting | detected dev | detected test | median delay dev | test "
        "| false alarms /1k healthy steps dev | test | healthy runs alerting dev | test "
        "| earlier than calibrated val_loss dev | test | median lead dev | test |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for det in DETECTORS:
        for setting in ("stock", "calibrated"):
            e = {s: ev[s]["detectors"][det.name][setting] for s in SPLITS}
            m = e["dev"]["multiplier"]
            cells = [f"{det.name}", f"{setting} (x{_f(float(m), 2)})"]
            cells += [_pct(e[s]["detected"], e[s]["failures"]) for s in SPLITS]
            cells += [_f(float(e[s]["median_delay"])) for s in SPLITS]
            cells += [_f(e[s]["false_alarms_per_1k_healthy_steps"], 2) for s in SPLITS]
            cells += [f"{e[s]['healthy_runs_alerting']}/{e[s]['healthy_runs']}" for s in SPLITS]
            cells += [_pct(e[s]["earlier_than_val_loss"], e[s]["failures"]) for s in SPLITS]
            cells += [_f(float(e[s]["median_lead"])) for s in SPLITS]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _group(recs: list[dict], key: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in recs:
        out.setdefault(r[key], []).append(r)
    return out


def per_kind(recs: dict, ev: dict) -> list[str]:
    """Failure kinds: geometry (stock) against the calibrated loss rule, dev | test."""
    lines = [
        "| failure | geometry detected dev | test | geometry median delay dev | test "
        "| val_loss (cal.) detected dev | test | val_loss median delay dev | test "
        "| geometry earlier dev | test | first geometry rule (test) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    kinds = sorted({r["kind"] for r in recs["dev"] if r["onset"] is not None})
    for kind in kinds:
        cells = [kind]
        runs = {s: [r for r in recs[s] if r["kind"] == kind] for s in SPLITS}
        g = {s: ev[s]["detectors"]["geometry"]["stock"]["runs"] for s in SPLITS}
        lo = {s: ev[s]["detectors"]["val_loss"]["calibrated"]["runs"] for s in SPLITS}

        def delays(table: dict, s: str, runs: dict = runs) -> list[float]:
            return [delay_of(table[s][r["name"]]) for r in runs[s]]

        for table in (g, lo):
            d = {s: delays(table, s) for s in SPLITS}
            cells += [_pct(sum(math.isfinite(x) for x in d[s]), len(d[s])) for s in SPLITS]
            cells += [_f(float(median(d[s]))) for s in SPLITS]
        for s in SPLITS:
            dg, dl = delays(g, s), delays(lo, s)
            cells.append(_pct(sum(a < b for a, b in zip(dg, dl, strict=True)), len(dg)))
        rules = Counter(
            (g["test"][r["name"]]["first_rule"] or "miss").split("/", 1)[-1] for r in runs["test"]
        )
        cells.append(", ".join(f"{k} x{v}" for k, v in rules.most_common(3)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def healthy(recs: dict, ev: dict) -> list[str]:
    """Healthy runs per architecture and schedule: geometry alerts (stock)."""
    lines = [
        "| architecture | schedule | healthy runs alerting dev | test | alerts (test) |",
        "|---|---|---|---|---|",
    ]
    keys = sorted({(r["arch"], r["opt"]) for r in recs["dev"] if r["onset"] is None})
    for arch, opt in keys:
        cells = [arch, opt]
        what: Counter = Counter()
        for s in SPLITS:
            rows = ev[s]["detectors"]["geometry"]["stock"]["runs"]
            hs = [r for r in recs[s] if r["onset"] is None and (r["arch"], r["opt"]) == (arch, opt)]
            cells.append(f"{sum(rows[r['name']]['false_alarms'] > 0 for r in hs)}/{len(hs)}")
            if s == "test":
                for r in hs:
                    for a in r["live_alerts"]:
                        what[f"{a['layer']}/{a['metric']}/{a['rule']}"] += 1
        cells.append(", ".join(f"{k} x{v}" for k, v in what.most_common(4)) or "none")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def per_arch(recs: dict, ev: dict) -> list[str]:
    lines = [
        "| architecture | geometry detected dev | test | earlier than val_loss (cal.) dev | test |",
        "|---|---|---|---|---|",
    ]
    for arch in sorted({r["arch"] for r in recs["dev"]}):
        cells = [arch]
        for field in ("delay", "earlier"):
            for s in SPLITS:
                g = ev[s]["detectors"]["geometry"]["stock"]["runs"]
                lo = ev[s]["detectors"]["val_loss"]["calibrated"]["runs"]
                fs = [r for r in recs[s] if r["onset"] is not None and r["arch"] == arch]
                if field == "delay":
                    n = sum(math.isfinite(delay_of(g[r["name"]])) for r in fs)
                else:
                    n = sum(delay_of(g[r["name"]]) < delay_of(lo[r["name"]]) for r in fs)
                cells.append(_pct(n, len(fs)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report(recs: dict, ev: dict, bars: dict, cal: dict) -> str:
    n = {s: (len(recs[s]), sum(r["onset"] is None for r in recs[s])) for s in SPLITS}
    seeds = {s: sorted({r["seed"] for r in recs[s]}) for s in SPLITS}
    out = [
        f"Runs: dev {n['dev'][0]} ({n['dev'][1]} healthy; seeds {seeds['dev']}), "
        f"test {n['test'][0]} ({n['test'][1]} healthy; seeds {seeds['test']}). "
        "Calibrated multipliers (fit on dev healthy runs): "
        + ", ".join(f"{k}={_f(float(v), 2)}" for k, v in cal.items())
        + ".",
        "",
        "## Detectors, dev and test seeds side by side",
        "",
        *summary(ev, cal),
        "",
        "## Failure kinds (geometry stock vs the calibrated validation-loss rule)",
        "",
        *per_kind(recs, ev),
        "",
        "## Healthy runs (geometry, stock)",
        "",
        *healthy(recs, ev),
        "",
        "## Architectures (failure runs)",
        "",
        *per_arch(recs, ev),
        "",
        "## Bars (test seeds, stock configuration)",
        "",
        f"- Zero geometry alerts on every healthy run: {bars['healthy_runs_alerting']} healthy "
        f"runs alerting ({'PASS' if bars['bar_zero_healthy'] else 'FAIL'}).",
        f"- Geometry strictly before the calibrated val_loss rule: "
        f"{100 * bars['earlier_share']:.0f}% of failure runs "
        f"({'PASS' if bars['bar_earlier_ge_75pct'] else 'FAIL'} at >= 75%; "
        f"{100 * bars['earlier_share_not_sudden']:.0f}% of the gradual kinds, "
        f"{100 * bars['earlier_share_sudden']:.0f}% of the sudden ones, where both see the first "
        f"capture after the onset; at the same capture or earlier: "
        f"{100 * bars['not_later_share']:.0f}%); median delay "
        f"{_f(float(bars['median_delay_geometry']))} vs "
        f"{_f(float(bars['median_delay_val_loss']))} "
        f"({'PASS' if bars['bar_median_ratio_le_0.75'] else 'FAIL'} at <= 0.75x).",
        f"- Detection rate test {100 * bars['detection_test']:.0f}% vs dev "
        f"{100 * bars['detection_dev']:.0f}% "
        f"({'PASS' if bars['bar_detection_gap_le_10pts'] else 'FAIL'} within 10 points).",
    ]
    return "\n".join(out)
