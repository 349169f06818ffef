"""Diagnostic benchmark: do geometry alerts warn before the validation curves do?

Usage: ``.venv/bin/python bench/diagnostic.py [--quick]``. Trains small MLPs on scikit-learn
digits (CPU), each failure with a known onset step, plus healthy runs; feeds each captured frame
to :class:`sentrycam.audit.Auditor` (stock configuration) and applies the same trigger rule to the
validation loss and accuracy. Prints markdown tables; writes bench/results/diagnostic.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diag_runs import LAYERS, load_sentrycam, run, scenarios  # noqa: E402

load_sentrycam()

from diag_detect import DETECTORS, alerts_of, calibrate, median, score  # noqa: E402
from sentrycam.audit import Auditor  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
EVERY = 10


def record(sc) -> dict:
    """Train one scenario; compute metrics and stock alerts live with an Auditor."""
    rec = run(sc, every=EVERY)
    aud = Auditor()
    metrics: dict[str, list[dict[str, float]]] = {k: [] for k in LAYERS}
    for i, step in enumerate(rec.steps):
        for layer in LAYERS:
            m, _ = aud.observe(step, layer, rec.acts[layer][i], labels=rec.probe_y)
            metrics[layer].append(m)
    return {
        "name": sc.name,
        "kind": sc.kind,
        "onset": sc.onset,
        "seed": sc.seed,
        "steps": rec.steps,
        "val_loss": rec.val_loss,
        "val_acc": rec.val_acc,
        "metrics": metrics,
        "live_alerts": [a.to_dict() for a in aud.alerts],
    }


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return "miss" if math.isinf(x) else f"{x:g}"
    return str(x)


def evaluate(recs: list[dict]) -> dict:
    """Score every detector, stock and calibrated, on every run; check the bars."""
    healthy = [r for r in recs if r["onset"] is None]
    failures = [r for r in recs if r["onset"] is not None]
    out: dict = {"detectors": {}, "runs": [r["name"] for r in recs]}
    for det in DETECTORS:
        entry = {}
        for setting, m in (("stock", 1.0), ("calibrated", calibrate(det, healthy))):
            rows = {}
            for r in recs:
                al = alerts_of(det, r, m) if math.isfinite(m) else []
                rows[r["name"]] = score(al, r["onset"])
            delays = [
                rows[r["name"]]["delay"] if rows[r["name"]]["delay"] is not None else math.inf
                for r in failures
            ]
            entry[setting] = {
                "multiplier": m,
                "runs": rows,
                "median_delay": median(delays),
                "detected": sum(math.isfinite(d) for d in delays),
                "false_alarms_failures": sum(rows[r["name"]]["false_alarms"] for r in failures),
                "alerts_healthy": sum(rows[r["name"]]["false_alarms"] for r in healthy),
            }
        out["detectors"][det.name] = entry
    out["bars"] = {s: _bars(out, failures, s) for s in ("stock", "calibrated")}
    return out


def _bars(out: dict, failures: list[dict], setting: str) -> dict:
    g = out["detectors"]["geometry"][setting]
    lo = out["detectors"]["val_loss"][setting]
    earlier = 0
    for r in failures:
        dg, dl = g["runs"][r["name"]]["delay"], lo["runs"][r["name"]]["delay"]
        dg = math.inf if dg is None else dg
        dl = math.inf if dl is None else dl
        earlier += dg < dl
    mg, ml = g["median_delay"], lo["median_delay"]
    ratio_ok = mg <= 0.75 * ml if math.isfinite(ml) else math.isfinite(mg)
    return {
        "geometry_strictly_earlier": earlier,
        "failures": len(failures),
        "bar_earlier_ge5": earlier >= 5,
        "median_delay_geometry": mg,
        "median_delay_val_loss": ml,
        "bar_median_ratio_le_0.75": bool(ratio_ok),
        "healthy_alerts_geometry": g["alerts_healthy"],
        "bar_zero_healthy": g["alerts_healthy"] == 0,
    }


def tables(recs: list[dict], ev: dict) -> str:
    """The markdown report."""
    lines = []
    for setting in ("stock", "calibrated"):
        mult = {d: ev["detectors"][d][setting]["multiplier"] for d in ev["detectors"]}
        lines.append(f"### {setting.capitalize()} setting")
        lines.append("")
        lines.append("multipliers: " + ", ".join(f"{d}={_fmt(float(m))}" for d, m in mult.items()))
        lines.append("")
        head = "| run | onset | " + " | ".join(f"{d} first (delay) [FA]" for d in mult) + " |"
        lines += [head, "|" + "---|" * (2 + len(mult))]
        for r in recs:
            cells = []
            for d in mult:
                s = ev["detectors"][d][setting]["runs"][r["name"]]
                if r["onset"] is None:
                    cells.append(f"alerts: {s['false_alarms']}")
                else:
                    cells.append(f"{_fmt(s['first'])} ({_fmt(s['delay'])}) [{s['false_alarms']}]")
            lines.append(f"| {r['name']} | {_fmt(r['onset'])} | " + " | ".join(cells) + " |")
        med = [_fmt(float(ev["detectors"][d][setting]["median_delay"])) for d in mult]
        lines.append("| **median delay** | | " + " | ".join(med) + " |")
        lines.append("")
        b = ev["bars"][setting]
        lines.append(
            f"Bars ({setting}): geometry strictly before val-loss in "
            f"{b['geometry_strictly_earlier']}/{b['failures']} "
            f"({'PASS' if b['bar_earlier_ge5'] else 'FAIL'}); median delay geometry "
            f"{_fmt(float(b['median_delay_geometry']))} vs val-loss "
            f"{_fmt(float(b['median_delay_val_loss']))} "
            f"({'PASS' if b['bar_median_ratio_le_0.75'] else 'FAIL'} at <= 0.75x); "
            f"healthy geometry alerts {b['healthy_alerts_geometry']} "
            f"({'PASS' if b['bar_zero_healthy'] else 'FAIL'})."
        )
        lines.append("")
    lines.append("First geometry alert (stock): " + "; ".join(
        f"{r['name']}: {ev['detectors']['geometry']['stock']['runs'][r['name']]['first_rule']}"
        for r in recs if r["onset"] is not None
    ))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs, 3 healthy seeds")
    args = ap.parse_args()
    t0 = time.perf_counter()
    recs = []
    for sc in scenarios(args.quick):
        recs.append(record(sc))
        print(f"ran {sc.name:14s} {time.perf_counter() - t0:6.1f}s", file=sys.stderr, flush=True)
    ev = evaluate(recs)
    md = tables(recs, ev)
    print(md)
    RESULTS.mkdir(exist_ok=True)
    suffix = "_quick" if args.quick else ""
    meta = {"every": EVERY, "quick": args.quick, "seconds": round(time.perf_counter() - t0, 1)}
    payload = {"meta": meta, "evaluation": ev, "runs": [_slim(r) for r in recs]}
    text = json.dumps(payload, indent=1, default=_json_default)
    (RESULTS / f"diagnostic{suffix}.json").write_text(text)
    (RESULTS / f"diagnostic{suffix}.md").write_text("# Diagnostic benchmark\n\n" + md + "\n")


def _slim(r: dict) -> dict:
    keep = ("name", "kind", "onset", "seed", "steps", "val_loss", "val_acc", "live_alerts")
    return {k: r[k] for k in keep}


def _json_default(o):
    return str(o)


if __name__ == "__main__":
    main()
