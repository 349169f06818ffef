"""Scoring of the library diagnostic benchmark's recorded runs with the current product code.

:func:`score_run` replays one cached run's captures, in step order, through the product's own frame
builder (``sentrycam.pipeline.FrameBuilder``, what ``Monitor`` runs on its background thread) with
a fresh ``Auditor()``: the pooled rows of each watched layer with the probe labels and predictions,
the model output (``logit_max`` / ``logit_entropy`` where the product reads them) and the run
scalars ``val_loss``, ``val_acc``, ``loss`` (the mean training loss since the previous capture
at that cadence, as ``Monitor.step`` averages a loss given on every step) and ``lr`` (not for
slow starters), in the order the builder feeds them; at every=10 (every capture) and every=50
(every fifth). It keeps
the alerts, what was fed to the alert engine (so other thresholds can be replayed without
recomputing metrics: the rules are causal), anything the product reported as a problem or warned
about, and which metrics came out NaN per layer before the onset.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from diag_detect import DETECTORS, GRID, alerts_of, score
from lib_runs import load

import sentrycam.capture._probe as probe_mod
from sentrycam.alerts import AlertEngine, Auditor, RobustChangeRule
from sentrycam.capture import Capture, LayerCapture, pool_output
from sentrycam.contract import SEVERITY_RANK
from sentrycam.pipeline import DEFAULT_MAX_DIM, DEFAULT_MAX_FRAME_BYTES, FrameBuilder

CADENCES = (10, 50)
VAL_LOSS = DETECTORS[1]  # diag_detect's validation-loss detector: robust rule + non-finite check
FAIL_FLOOR = SEVERITY_RANK["warning"]  # `sentrycam alerts --fail-on warning`
MSG_CHARS = 240


def product_params(m: float) -> dict:
    """``AlertEngine(params=...)`` with the robust rule's thresholds x ``m`` (m = 1: stock)."""
    if m == 1.0:
        return {}
    d = RobustChangeRule(1)
    return {"robust": {"z_jump": d.z_jump * m, "z_sustain": d.z_sustain * m}}


def _slim(a) -> dict:
    joined = (a.evidence or {}).get("incident", {}).get("also", [])
    return {
        "step": a.step,
        "layer": a.layer,
        "metric": a.metric,
        "rule": a.rule,
        "severity": a.severity,
        "message": a.message[:MSG_CHARS],
        "joined_steps": [int(j["step"]) for j in joined],  # alerts that joined its incident
    }


def _serious(alerts: list[dict]) -> list[dict]:
    return [a for a in alerts if SEVERITY_RANK.get(a["severity"], -1) >= FAIL_FLOOR]


def _scalars(z: dict, i: int, every: int) -> tuple[dict[str, float], dict[str, int]]:
    """The run scalars of capture ``i`` at cadence ``every``, and how many steps each is the mean
    of: ``loss`` is the mean training loss of the ``every`` steps before it, as ``Monitor.step``
    averages a loss passed on every step; a slow starter's learning rate is left out
    (lib_runs)."""
    out = {"val_loss": float(z["val_loss"][i]), "val_acc": float(z["val_acc"][i])}
    steps = {"val_loss": 1, "val_acc": 1}
    step = int(z["steps"][i])
    if step > 0:
        batches = z["train_loss"][max(step - every, 0) : step]
        out["loss"], steps["loss"] = float(np.mean(batches)), len(batches)
        if z["meta"].get("variant") != "slow":
            out["lr"], steps["lr"] = float(z["lr"][i]), 1
    return out, steps


class LoggedAuditor(Auditor):
    """An ``Auditor`` that keeps what it fed its engine, in order: ``(step, layer, values,
    averaged)`` (``averaged``: for run scalars, the steps each value is the mean of)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.fed: list[tuple[int, str | None, dict[str, float], dict[str, int] | None]] = []

    def observe(self, step, layer, x, labels=None, preds=None, **kw):
        metrics, new = super().observe(step, layer, x, labels, preds, **kw)
        self.fed.append((int(step), layer, {k: float(v) for k, v in metrics.items()}, None))
        return metrics, new

    def observe_scalars(self, step, scalars, steps=None):
        new = super().observe_scalars(step, scalars, steps)
        vals = {str(k): float(v) for k, v in scalars.items()}
        self.fed.append((int(step), None, vals, dict(steps or {})))
        return new


def _capture(z: dict, i: int, layers: list[str], every: int) -> Capture:
    """Capture ``i`` of a cached run as ``Monitor``'s capture stage hands it over."""
    lcs = {
        layer: LayerCapture(
            pool_output(torch.from_numpy(np.ascontiguousarray(z[f"rows{j}"][i])), "auto"),
            labels=z["probe_y"],
            preds=torch.from_numpy(z["preds"][i].astype(np.int64)),
        )
        for j, layer in enumerate(layers)
    }
    extra = {}
    summary = getattr(probe_mod, "_logit_summary", None)  # the model output as scalars
    if summary is not None and "logits" in Capture.__dataclass_fields__:
        n = len(z["probe_y"])
        largest, summed = summary(torch.from_numpy(z["logits"][i]), n)  # per chunk: summed
        extra["logits"] = torch.stack([largest, summed / n])  # as the probe pass hands it over
    scalars, steps = _scalars(z, i, every)
    return Capture(
        int(z["steps"][i]), lcs, scalars=scalars, every=every, scalar_steps=steps, **extra
    )


def score_run(path: Path) -> dict:
    """Stock alerts and fed streams of one cached run at both cadences (see module doc)."""
    torch.set_num_threads(1)
    z = load(path)
    meta = z["meta"]
    layers = meta["layers"]
    steps = [int(s) for s in z["steps"]]
    out = {k: meta[k] for k in ("name", "family", "kind", "onset", "seed", "split", "variant")}
    out |= {"layers": layers, "seconds": meta.get("seconds"), "cadences": {}}
    out["train_ms_per_step"] = meta.get("train_ms_per_step")
    onset = meta["onset"]
    for every in CADENCES:
        idx = [i for i, s in enumerate(steps) if s % every == 0]
        problems: list[str] = []
        aud = LoggedAuditor(on_problem=problems.append)
        builder = FrameBuilder(
            dtype="float32",
            max_dim=DEFAULT_MAX_DIM,
            max_frame_bytes=DEFAULT_MAX_FRAME_BYTES,
            auditor=aud,
            problem=lambda msg, *_a, _p=problems, **_k: _p.append(str(msg)),
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in idx:
                builder.build(_capture(z, i, layers, every))
        fed = aud.fed
        nan: dict = {layer: {} for layer in layers}  # metric -> (first step, frames) NaN
        first = steps[idx[0]]
        for step, layer, vals, _ in fed:
            if layer is None or step == first or (onset is not None and step >= onset):
                continue
            for k, v in vals.items():
                if math.isnan(v):
                    f0, n = nan[layer].get(k, (step, 0))
                    nan[layer][k] = (f0, n + 1)
        alerts = [_slim(a) for a in aud.alerts]
        replayed = replay(fed, 1.0)
        c = out["cadences"][every] = {
            "steps": [steps[i] for i in idx],
            "val_loss": [float(z["val_loss"][i]) for i in idx],
            "val_acc": [float(z["val_acc"][i]) for i in idx],
            "alerts": alerts,
            "fed": fed,
            "problems": problems + [f"{w.category.__name__}: {w.message}" for w in caught],
            "nan_metrics": nan,
            "replay_matches": [_key(a) for a in alerts] == [_key(a) for a in replayed],
            "val_loss_mult_clean": None,
            "product_mult_clean": None,
        }
        if onset is None:  # healthy: the smallest multipliers that keep it silent
            c["product_mult_clean"] = clean_multiplier(fed)
            c["val_loss_mult_clean"] = next(
                (m for m in GRID if not alerts_of(VAL_LOSS, c, m, first_only=True)), math.inf
            )
    return out


def _key(a: dict) -> tuple:
    return a["step"], a["layer"], a["metric"], a["rule"], a["severity"]


def replay(fed: list, m: float, first_only: bool = False) -> list[dict]:
    """The alerts a fresh ``AlertEngine`` with the robust thresholds x ``m`` raises on what an
    ``Auditor`` fed its engine (in the same order; the rules are causal)."""
    eng = AlertEngine(params=product_params(m))
    out: list = []
    ahead = {step: vals for step, layer, vals, _ in fed if layer is None}  # previewed, as live
    for i, (step, layer, vals, averaged) in enumerate(fed):
        if step in ahead and (i == 0 or fed[i - 1][0] != step):
            eng.preview(step, ahead[step])
        if layer is None:
            out += eng.update(step, None, vals, averaged=averaged)
        else:
            out += eng.update(step, layer, vals, tasks=[])
        if first_only and _serious([_slim(a) for a in out]):
            break
    return [_slim(a) for a in out]


#: Multipliers tried for the product's thresholds: GRID but its last (1e9, the rule off), more
#: sensitive than stock (0.5, 0.75) too, so that a setting chosen on the healthy runs may trade
#: silence for detection either way.
PRODUCT_GRID = GRID[:-1]


def clean_multiplier(fed: list) -> float:
    """The smallest multiplier on PRODUCT_GRID with no warning or critical alert."""
    for m in PRODUCT_GRID:
        if not _serious(replay(fed, m, first_only=True)):
            return m
    return math.inf


def judge(alerts: list[dict], onset: int | None) -> dict:
    """Alerts of warning severity or worse on one run: first after the onset, its delay, alerts
    before it (false alarms; all of them on a healthy run) and at or after it (per incident)."""
    al = _serious(alerts)
    if onset is None:
        return {
            "false_alarms": len(al), "first": None, "delay": None, "after": 0, "first_at": None,
            "signal_delay": None,
        }  # fmt: skip
    after = [a for a in al if a["step"] >= onset]
    first = after[0] if after else None
    # an alert raised while an incident is open joins it instead (listed under its first alert)
    seen = [a["step"] for a in after] + [s for a in al for s in a["joined_steps"] if s >= onset]
    return {
        "false_alarms": len(al) - len(after),
        "first": first,
        "delay": first["step"] - onset if first else None,
        "after": len(after),
        "first_at": f"{first['layer']}/{first['metric']}/{first['rule']}" if first else None,
        "signal_delay": min(seen) - onset if seen else None,
    }


def val_loss_delay(cad: dict, onset: int | None, m: float) -> dict:
    """diag_detect's val-loss rule at multiplier ``m`` on one run's curve at one cadence."""
    al = alerts_of(VAL_LOSS, cad, m) if math.isfinite(m) else []
    return score(al, onset)
