"""Diagnostic benchmark: do geometry alerts warn before the validation curves do, on runs
nobody tuned them on?

Usage: ``.venv/bin/python bench/diagnostic.py [--quick] [--jobs N]``. Trains small MLPs, CNNs
with BatchNorm and transformer encoders (CPU; digits from scikit-learn, generated token
sequences) with SGD + momentum and step decay or AdamW with warm-up and cosine decay, healthy
or failing from a known onset step; feeds each captured frame to :class:`sentrycam.alerts.Auditor`
(the stock configuration) and applies the same robust rule to the validation loss and accuracy.
Seeds are split: any setting (the calibrated multipliers) is chosen on the *dev* seeds, then the
*test* seeds run once with it, and both are printed side by side. A full run writes
bench/results/diagnostic.{json,md} (``--quick`` only prints).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diag_runs import load_sentrycam, run, scenarios

load_sentrycam()

from diag_detect import DETECTORS, alerts_of, calibrate, delay_of, median, score  # noqa: E402
from diag_report import HEADER, report  # noqa: E402

from sentrycam.alerts import Auditor  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
EVERY = 10
SPLITS = ("dev", "test")
#: Failures that hit the model at once: the validation loss moves at the first capture after
#: the onset too, so geometry can at best tie with it there (reported apart).
SUDDEN = ("lr_spike", "shift_sudden", "label_shuffle")


def record(sc) -> dict:
    """Train one scenario; compute metrics and stock alerts live with an Auditor."""
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rec = run(sc, every=EVERY)
    aud = Auditor()
    metrics: dict[str, list[dict[str, float]]] = {k: [] for k in rec.layers}
    for i, step in enumerate(rec.steps):
        for layer in rec.layers:
            m, _ = aud.observe(step, layer, rec.acts[layer][i], labels=rec.probe_y)
            metrics[layer].append(m)
    return {
        "name": sc.name,
        "split": sc.split,
        "arch": sc.arch,
        "opt": sc.opt,
        "kind": sc.kind,
        "onset": sc.onset,
        "seed": sc.seed,
        "steps": rec.steps,
        "val_loss": rec.val_loss,
        "val_acc": rec.val_acc,
        "metrics": metrics,
        "live_alerts": [a.to_dict() for a in aud.alerts],
        "seconds": round(time.perf_counter() - t0, 2),
    }


def record_all(scs: list, jobs: int, t0: float) -> list[dict]:
    """Every scenario, ``jobs`` processes at a time, in the given order."""
    out = []
    ctx = mp.get_context("spawn")
    with ctx.Pool(jobs) as pool:
        for i, rec in enumerate(pool.imap(record, scs, chunksize=1)):
            out.append(rec)
            if i % 10 == 0 or i == len(scs) - 1:
                print(
                    f"{i + 1}/{len(scs)} runs, {time.perf_counter() - t0:6.1f}s",
                    file=sys.stderr,
                    flush=True,
                )
    return out


def _recorded(split: str, args: argparse.Namespace, t0: float) -> list[dict]:
    """The split's runs: trained now, or read from ``--cache`` when they are there."""
    path = args.cache / f"{split}{'_quick' if args.quick else ''}.pkl" if args.cache else None
    if path is not None and path.exists():
        return pickle.loads(path.read_bytes())
    recs = record_all(scenarios(split, quick=args.quick), args.jobs, t0)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(recs))
    return recs


def evaluate(recs: list[dict], calibrated: dict[str, float]) -> dict:
    """Every detector, stock and calibrated, on every run of one split; summaries per detector."""
    healthy = [r for r in recs if r["onset"] is None]
    failures = [r for r in recs if r["onset"] is not None]
    healthy_steps = sum(r["steps"][-1] for r in healthy) + sum(r["onset"] for r in failures)
    out: dict = {
        "detectors": {},
        "healthy_steps": healthy_steps,
        "runs": [{"name": r["name"], "kind": r["kind"], "onset": r["onset"]} for r in recs],
    }
    for det in DETECTORS:
        entry = {}
        for setting, m in (("stock", 1.0), ("calibrated", calibrated[det.name])):
            rows = {}
            for r in recs:
                al = alerts_of(det, r, m) if math.isfinite(m) else []
                rows[r["name"]] = score(al, r["onset"])
            delays = [delay_of(rows[r["name"]]) for r in failures]
            fa = sum(rows[r["name"]]["false_alarms"] for r in recs)
            entry[setting] = {
                "multiplier": m,
                "runs": rows,
                "detected": sum(math.isfinite(d) for d in delays),
                "failures": len(failures),
                "median_delay": median(delays),
                "false_alarms": fa,
                "false_alarms_per_1k_healthy_steps": 1000.0 * fa / max(healthy_steps, 1),
                "healthy_runs_alerting": sum(rows[r["name"]]["false_alarms"] > 0 for r in healthy),
                "healthy_runs": len(healthy),
            }
        out["detectors"][det.name] = entry
    loss = out["detectors"]["val_loss"]["calibrated"]["runs"]
    for det in DETECTORS:
        for e in out["detectors"][det.name].values():
            leads = [delay_of(loss[r["name"]]) - delay_of(e["runs"][r["name"]]) for r in failures]
            leads = [0.0 if math.isnan(x) else x for x in leads]  # both missed: a tie
            e["earlier_than_val_loss"] = sum(x > 0 for x in leads)
            e["not_later_than_val_loss"] = sum(x >= 0 for x in leads)
            e["median_lead"] = median(leads)
    return out


def bars(ev: dict[str, dict]) -> dict:
    """The issue's bars, on the test seeds (stock geometry against the calibrated loss rule)."""
    g = ev["test"]["detectors"]["geometry"]["stock"]
    lo = ev["test"]["detectors"]["val_loss"]["calibrated"]
    g_dev = ev["dev"]["detectors"]["geometry"]["stock"]
    rate = g["detected"] / max(g["failures"], 1)
    rate_dev = g_dev["detected"] / max(g_dev["failures"], 1)
    mg, ml = g["median_delay"], lo["median_delay"]
    ratio_ok = mg <= 0.75 * ml if math.isfinite(ml) else math.isfinite(mg)
    sudden = [r for r in ev["test"]["runs"] if r["kind"] in SUDDEN]
    gradual = [r for r in ev["test"]["runs"] if r["onset"] is not None and r["kind"] not in SUDDEN]

    def earlier(runs: list[dict]) -> int:
        return sum(delay_of(g["runs"][r["name"]]) < delay_of(lo["runs"][r["name"]]) for r in runs)

    return {
        "earlier_share_not_sudden": earlier(gradual) / max(len(gradual), 1),
        "earlier_share_sudden": earlier(sudden) / max(len(sudden), 1),
        "not_later_share": g["not_later_than_val_loss"] / max(g["failures"], 1),
        "healthy_runs_alerting": g["healthy_runs_alerting"],
        "bar_zero_healthy": g["healthy_runs_alerting"] == 0,
        "earlier_share": g["earlier_than_val_loss"] / max(g["failures"], 1),
        "bar_earlier_ge_75pct": g["earlier_than_val_loss"] >= 0.75 * g["failures"],
        "median_delay_geometry": mg,
        "median_delay_val_loss": ml,
        "bar_median_ratio_le_0.75": bool(ratio_ok),
        "detection_test": rate,
        "detection_dev": rate_dev,
        "bar_detection_gap_le_10pts": abs(rate - rate_dev) <= 0.10,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few short runs; print only")
    ap.add_argument("--jobs", type=int, default=2, help="training processes (default 2)")
    ap.add_argument(
        "--cache",
        type=Path,
        help="keep the recorded runs (metrics per frame) in this folder and reuse them: rules are "
        "causal, so a changed rule can be re-scored without training again",
    )
    ap.add_argument(
        "--dev-only", action="store_true", help="the dev seeds only (choosing settings); print only"
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    splits = ("dev",) if args.dev_only else SPLITS
    recs = {s: _recorded(s, args, t0) for s in splits}
    for split_recs in recs.values():  # the stock engine of this code (a cache may be older)
        for r in split_recs:
            r["live_alerts"] = [a.to_dict() for a in alerts_of(DETECTORS[0], r)]
    if args.dev_only:
        recs["test"] = recs["dev"]  # printed twice; nothing is written
    dev_healthy = [r for r in recs["dev"] if r["onset"] is None]
    cal = {d.name: calibrate(d, dev_healthy) for d in DETECTORS}
    ev = {s: evaluate(recs[s], cal) for s in SPLITS}
    result = bars(ev)
    text = report(recs, ev, result, cal)
    print(text)
    payload = {
        "evaluation": ev,
        "bars": result,
        "calibrated_on_dev": cal,
        "runs": {s: [_slim(r) for r in recs[s]] for s in SPLITS},
        "meta": {
            "every": EVERY,
            "quick": args.quick,
            "runs_read_from_cache": bool(args.cache),  # trained earlier, scored now
            "seconds": round(time.perf_counter() - t0, 1),
            "engine": "AlertEngine() defaults: rules=('robust',), hard=True",
        },
    }
    if args.quick or args.dev_only:
        return  # a smoke run: printed only, the committed results stay those of the full run
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "diagnostic.json").write_text(json.dumps(_clean(payload)))
    (RESULTS / "diagnostic.md").write_text(HEADER + text + "\n")


def _clean(o):
    """Strict JSON: non-finite floats become strings."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return "nan" if math.isnan(o) else ("inf" if o > 0 else "-inf")
    return o


def _slim(r: dict) -> dict:
    """A run for the JSON: its curves and alerts (which rule, where, when), without per-frame
    metrics, messages or evidence."""
    out = {k: v for k, v in r.items() if k != "metrics"}
    keep = ("step", "layer", "metric", "rule", "severity")
    out["live_alerts"] = [{k: a[k] for k in keep} for a in r["live_alerts"]]
    for curve in ("val_loss", "val_acc"):
        out[curve] = [float(f"{v:.5g}") for v in r[curve]]
    return out


if __name__ == "__main__":
    main()
