"""Detectors and scoring for the diagnostic benchmark.

A detector replays one run's recorded streams through a fresh :class:`AlertEngine` (the rules
are causal, so this equals running them live). Each detector has one sensitivity multiplier ``m``
(``m = 1`` is the stock setting): the robust rule's ``z_jump`` and ``z_sustain`` and SentryCam's
``factor`` are multiplied by it; the hard rules are not. "Calibrated" is the smallest ``m`` on a
fixed grid at which the detector raises nothing on any healthy run of the *dev* seeds; the test
seeds reuse it untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sentrycam.alerts import Alert, AlertEngine, RobustChangeRule, SentryCamRule
from sentrycam.alerts._rules import median  # the engine's median (``inf`` stands for a miss)

__all__ = ["DETECTORS", "Detector", "alerts_of", "calibrate", "delay_of", "median", "score"]

GRID = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 1e9)
SENTRYCAM_METRICS = ("intra_var", "inter_dist")


@dataclass(frozen=True)
class Detector:
    """Which streams (``"geometry"``, ``"val_loss"``, ``"val_acc"``) and which trigger rule."""

    name: str
    source: str
    rule: str  # "robust" or "sentrycam"
    metrics: tuple[str, ...] | None = None  # geometry metrics fed (None: all)
    hard: bool = True


DETECTORS = (
    Detector("geometry", "geometry", "robust"),
    Detector("val_loss", "val_loss", "robust"),
    Detector("val_acc", "val_acc", "robust"),
    Detector("sentrycam", "geometry", "sentrycam", SENTRYCAM_METRICS, hard=False),
)


def _params(rule: str, m: float) -> dict[str, float]:
    if rule == "robust":
        d = RobustChangeRule(1)
        # confirm=0, peak_floor=0: scalars get exactly the rule the probe metrics get (no
        # confirmation delay, no floor at 1% of the largest value: the comparison stays the rule
        # it was before the product's scalars got that floor)
        return {"z_jump": d.z_jump * m, "z_sustain": d.z_sustain * m, "confirm": 0, "peak_floor": 0}
    return {"factor": SentryCamRule(1).factor * m}


def alerts_of(det: Detector, rec: dict, m: float = 1.0, first_only: bool = False) -> list[Alert]:
    """All alerts ``det`` raises over one recorded run (``rec`` as built by diagnostic.py).

    ``first_only``: stop at the first frame that raises any alert.
    """
    eng = AlertEngine(rules=(det.rule,), hard=det.hard, params={det.rule: _params(det.rule, m)})
    out: list[Alert] = []
    for i, step in enumerate(rec["steps"]):
        if det.source == "geometry":
            for layer, frames in rec["metrics"].items():
                vals = frames[i]
                if det.metrics is not None:
                    vals = {k: vals[k] for k in det.metrics}
                out += eng.update(step, layer, vals)
        else:
            out += eng.update(step, None, {det.source: rec[det.source][i]})
        if first_only and out:
            break
    return out


def score(alerts: list[Alert], onset: int | None) -> dict:
    """First alert at/after onset, delay, and false alarms (alerts before onset; all if healthy)."""
    if onset is None:
        return {"first": None, "delay": None, "false_alarms": len(alerts), "first_rule": None}
    before = [a for a in alerts if a.step < onset]
    after = [a for a in alerts if a.step >= onset]
    first = after[0] if after else None
    return {
        "first": first.step if first else None,
        "delay": (first.step - onset) if first else None,
        "false_alarms": len(before),
        "first_rule": f"{first.layer}/{first.metric}/{first.rule}" if first else None,
    }


def calibrate(det: Detector, healthy: list[dict]) -> float:
    """Smallest multiplier on :data:`GRID` with no alert on any healthy run."""
    for m in GRID:
        if all(not alerts_of(det, rec, m, first_only=True) for rec in healthy):
            return m
    return math.inf


def delay_of(row: dict) -> float:
    """A scored run's delay in steps, ``inf`` for a miss (so misses sort last and medians hold)."""
    return math.inf if row["delay"] is None else float(row["delay"])
