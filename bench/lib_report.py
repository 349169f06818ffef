"""Markdown report of the library diagnostic benchmark (see lib_diagnostic.py)."""

from __future__ import annotations

import math
import re
from collections import Counter

from lib_eval import SPLITS
from lib_models import FAMILIES
from lib_score import CADENCES, FAIL_FLOOR

from sentrycam.contract import SEVERITY_RANK as RANK


def _f(x, digits: int = 0) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and digits and 1e9 <= x < math.inf:
        return "off"  # a multiplier that switches the robust rule off
    if isinstance(x, float):
        if math.isinf(x):
            return "miss" if x > 0 else "-miss"
        if math.isnan(x):
            return "—"
        return f"{x:.{digits}f}"
    return str(x)


def _of(a: int, n: int) -> str:
    return f"{a}/{n}" if n else "—"


def _cells(s: dict) -> list[str]:
    return [
        _of(s["healthy_alerting"], s["healthy_runs"]),
        f"{_of(s['detected'], s['failures'])} ({s['detected_incl_joined']})",
        _f(s["median_delay"]),
        _of(s["val_loss_detected"], s["failures"]),
        _f(s["val_loss_median_delay"]),
        _of(s["at_or_before"], s["failures"]),
        _of(s["strictly_before"], s["failures"]),
        f"{_of(s['strictly_before_gradual'], s['gradual'])} / "
        f"{_of(s['strictly_before_sudden'], s['sudden'])}",
        _f(s["median_delay_ratio"], 2),
        _of(s["names_layer"], s["single_layer"]),
        f"{_f(s['alerts_per_incident_median'])} ({_f(s['alerts_per_incident_mean'], 1)})",
        _of(s["first_from_scalar"], s["detected"]),
        _of(s["pre_onset_alerting"], s["failures"]),
    ]


HEAD = (
    "| {what} | healthy alerting | detected (incl. joining an open incident) | median delay "
    "| val-loss detected | val-loss median delay | at or before val loss | strictly before "
    "| gradual / sudden strictly before | delay ratio | names the layer "
    "| alerts per incident med (mean) | first alert from a scalar "
    "| failures alerting before onset |"
)
RULE = "|" + "---|" * 14


def overall(ev: dict) -> list[str]:
    out = [HEAD.format(what="split, cadence"), RULE]
    for every in CADENCES:
        e = ev["cadences"][every]
        for s in SPLITS:
            out.append(f"| {s}, every={every} | " + " | ".join(_cells(e["overall"][s])) + " |")
    return out


def per_family(ev: dict, every: int, split: str) -> list[str]:
    e = ev["cadences"][every]
    out = [HEAD.format(what="family"), RULE]
    for f in ev["families"]:
        out.append(f"| {f} | " + " | ".join(_cells(e["families"][f][split])) + " |")
    return out


def per_kind(ev: dict, every: int, split: str) -> list[str]:
    e = ev["cadences"][every]
    out = [HEAD.format(what="kind"), RULE]
    for k, v in e["kinds"].items():
        if k != "healthy":
            out.append(f"| {k} | " + " | ".join(_cells(v[split])) + " |")
    return out


def false_alarms(ev: dict) -> list[str]:
    """Every healthy run with a warning or worse: which rule on which metric and layer, and the
    first message of each."""
    out = []
    for every in CADENCES:
        e = ev["cadences"][every]
        for s in SPLITS:
            for r in e["rows"][s]:
                bad = [a for a in r["healthy_alerts"] if RANK.get(a["severity"], -1) >= FAIL_FLOOR]
                if not bad:
                    continue
                out.append(f"- every={every}, {s}, `{r['name']}`: {len(bad)} alert(s)")
                for a in bad[:6]:
                    where = a["layer"] if a["layer"] is not None else "(scalar)"
                    out.append(
                        f"    - step {a['step']} {where} / {a['metric']} / {a['rule']} "
                        f"({a['severity']}): {a['message']}"
                    )
    return out or ["- none"]


def first_rules(ev: dict, every: int) -> list[str]:
    """What fired first on the test failure runs, per family."""
    out = [
        "| family | first alert after the onset (test): layer/metric/rule x count |",
        "|---|---|",
    ]
    rows = ev["cadences"][every]["rows"]["test"]
    for f in ev["families"]:
        c = Counter(
            (r["product"]["first_at"] or "miss").replace("None/", "(scalar)/")
            for r in rows
            if r["family"] == f and r["onset"] is not None
        )
        out.append(f"| {f} | " + ", ".join(f"{k} x{v}" for k, v in c.most_common(6)) + " |")
    return out


def lofo(ev: dict, every: int) -> list[str]:
    e = ev["cadences"][every]
    out = [
        "| held-out family | val-loss mult (others' dev) | product robust mult (others' dev) "
        "| others' dev healthy alerting at every mult | test healthy alerting stock → LOFO "
        "| detected stock → LOFO | median delay stock → LOFO | val-loss (LOFO) median delay "
        "| strictly before val loss stock → LOFO | at or before stock → LOFO |",
        "|" + "---|" * 10,
    ]
    for f in ev["families"]:
        lo = e["lofo"][f]
        t, st = lo["test"], lo["stock_test"]
        out.append(
            f"| {f} | {_f(lo['val_loss_mult'], 2)} | {_f(lo['product_mult'], 2)} | "
            f"{lo['others_dev_healthy_alerting_at_all']} | "
            f"{_of(st['healthy_alerting'], st['healthy_runs'])} → "
            f"{_of(t['healthy_alerting'], t['healthy_runs'])} | "
            f"{_of(st['detected'], st['failures'])} → {_of(t['detected'], t['failures'])} | "
            f"{_f(st['median_delay'])} → {_f(t['median_delay'])} | "
            f"{_f(t['val_loss_median_delay'])} | "
            f"{_of(st['strictly_before'], st['failures'])} → "
            f"{_of(t['strictly_before'], t['failures'])} | "
            f"{_of(st['at_or_before'], st['failures'])} → {_of(t['at_or_before'], t['failures'])} |"
        )
    keys = ("healthy_alerting", "healthy_runs", "detected", "failures", "strictly_before")
    tot = {k: sum(e["lofo"][f]["test"][k] for f in ev["families"]) for k in (*keys, "at_or_before")}
    out.append(
        f"| **all (pooled)** | | | | {_of(tot['healthy_alerting'], tot['healthy_runs'])} | "
        f"{_of(tot['detected'], tot['failures'])} | | | "
        f"{_of(tot['strictly_before'], tot['failures'])} | "
        f"{_of(tot['at_or_before'], tot['failures'])} |"
    )
    return out


def _loud(ev: dict) -> str:
    parts = []
    for every in CADENCES:
        e = ev["cadences"][every]
        t = e["test_vs_strict_val_loss"]
        parts.append(
            f"every={every}: {', '.join(e['val_loss_loud_dev']) or 'none'}; strictly calibrated "
            f"on all of them it is x{_f(e['val_loss_mult_strict'], 2)}, and on the test runs it "
            f"then detects {_of(t['val_loss_detected'], t['failures'])}, median delay "
            f"{_f(t['val_loss_median_delay'])}, the product strictly before it on "
            f"{_of(t['strictly_before'], t['failures'])}"
        )
    return "; ".join(parts)


def corpus(meta: dict) -> list[str]:
    out = ["| family | library configuration | watched layers | optimiser | ms/step (train) |"]
    out.append("|---|---|---|---|---|")
    for f in meta["families"]:
        fam = FAMILIES[f]
        opt = {"sgd_step": "SGD m0.9 + step decay", "adamw_cosine": "AdamW, warm-up + cosine"}
        how = f"{opt[fam.opt]}, lr {fam.lr:g}, wd {fam.wd:g}"
        how += f", clip {fam.clip:g}" if fam.clip else ""
        how += ", HF Trainer" if fam.trainer else ""
        ms = meta["ms_per_step"].get(f)
        out.append(f"| {f} | {fam.config} | {', '.join(fam.layers)} | {how} | {_f(ms, 1)} |")
    return out


def problems(scored: list[dict]) -> list[str]:
    """What the product reported or warned about, and metrics that came out NaN, per layer."""
    out = []
    seen: Counter = Counter()
    runs: dict = {}
    for r in scored:
        for c in r["cadences"].values():
            for p in c["problems"]:
                key = (r["family"], re.sub(r"\d+", "#", p[:200]))  # steps and counts vary
                seen[key] += 1
                runs.setdefault(key, set()).add(r["name"])
    for (fam, p), n in seen.most_common(30):
        out.append(f"- {fam}: {p} (x{n}, in {len(runs[fam, p])} runs, e.g. "
                   f"`{sorted(runs[fam, p])[0]}`)")  # fmt: skip
    nan: dict = {}
    for r in scored:
        for layer, ks in r["cadences"][10]["nan_metrics"].items():
            for k, first in ks.items():
                nan.setdefault((r["family"], layer, k), []).append((r["name"], first))
    total = Counter(r["family"] for r in scored)
    by_design = sorted({f"{f} `{lay}`" for (f, lay, k), v in nan.items() if k == "dead_frac"})
    if by_design:
        out.append(f"- `dead_frac` NaN (a layer with negative values; by design): {by_design}")
    for (fam, layer, k), hits in sorted(nan.items()):
        if k != "dead_frac":
            name, (step, n) = hits[0]
            out.append(
                f"- NaN `{k}` on {fam} `{layer}` in {len(hits)}/{total[fam]} runs before any "
                f"onset (e.g. `{name}`: {n} frames, first at step {step})"
            )
    mism = [r["name"] for r in scored for c in r["cadences"].values() if not c["replay_matches"]]
    if mism:
        out.append(f"- engine replay differs from the Auditor's alerts on: {', '.join(mism[:10])}")
    return out or ["- none"]


def report(ev: dict, scored: list[dict], meta: dict) -> str:
    out = [
        "# Library diagnostic benchmark",
        "",
        f"`{meta['command']}` (all CPU). Product code: {meta['product']}. "
        f"Wall time {meta['wall_s'] / 60:.1f} min (training and cache check "
        f"{meta['train_s'] / 60:.1f} min, {meta['trained']} runs trained now, {meta['jobs']} "
        "processes; scoring "
        f"{meta['score_s'] / 60:.1f} min). Training time recorded with the cached runs: "
        f"{meta['train_cpu_s'] / 60:.0f} min of process time (shared prefixes counted once).",
        "",
        f"Runs: {meta['n_runs']} ({meta['n_healthy']} healthy), {meta['steps']} steps, batch 32, "
        f"a capture every 10 steps (every=50 takes every fifth). Seeds: {meta['seeds']}. "
        f"Failures ({', '.join(meta['kinds'])}) at an early onset (250-300) and a late one "
        "(450-500). Healthy variants: base and a slow starter (the schedule x (step/300)^3 over "
        "its first 300 steps: near chance for 200-250 steps; scored without its learning rate, "
        "so that the product must tell its take-off from what it shows). Scalars fed with each "
        "capture: val_loss, val_acc, the training loss averaged over the steps since the previous "
        "capture at that cadence (as `Monitor.step` averages a loss passed on every step), and "
        "the learning rate (not for slow starters). Alerts: warning or worse "
        "(what `sentrycam alerts --fail-on warning` fails on); delay: steps from the onset to "
        "the first one at or after it. Val loss: diag_detect's robust rule on the validation "
        f"loss, calibrated on the dev healthy runs (x{_f(ev['cadences'][10]['val_loss_mult'], 2)}"
        f" at every=10, x{_f(ev['cadences'][50]['val_loss_mult'], 2)} at every=50), leaving out "
        f"those it alarms on at every finite multiplier ({_loud(ev)}). Delay "
        "ratio: median delay of the product over that of the val-loss rule (misses count as "
        "never). Names the layer: single-layer failures (frozen: the first watched layer; "
        "dead_relu where only one watched layer's activations are penalised) whose first alert "
        "is on that layer.",
        "",
        "## Corpus",
        "",
        *corpus(meta),
        "",
        "## Stock product (before tuning)",
        "",
        *overall(ev),
        "",
    ]
    for every in CADENCES:
        for s in SPLITS:
            out += [f"### Per family, {s}, every={every}", "", *per_family(ev, every, s), ""]
    for every in CADENCES:
        out += [f"### Per failure kind, test, every={every}", "", *per_kind(ev, every, "test"), ""]
        out += [*first_rules(ev, every), ""]
    out += ["## False alarms on healthy runs (stock)", "", *false_alarms(ev), ""]
    for every in CADENCES:
        e = ev["cadences"][every]
        d = e["dev_calibrated_test"]
        out += [
            f"## Leave one family out, every={every}",
            "",
            f"Chosen on all dev runs: val-loss x{_f(e['val_loss_mult'], 2)}, product robust "
            f"x{_f(e['product_mult'], 2)} ({e['dev_healthy_alerting_at_all']} dev healthy runs "
            f"alert at every multiplier); on the test runs: healthy alerting "
            f"{_of(d['healthy_alerting'], d['healthy_runs'])}, detected "
            f"{_of(d['detected'], d['failures'])}, median delay {_f(d['median_delay'])}.",
            "",
            *lofo(ev, every),
            "",
        ]
    out += ["## Problems the product reported, warnings, NaN metrics", "", *problems(scored)]
    return "\n".join(out) + "\n"
