"""Alerts over metric and scalar streams.

One :class:`AlertEngine` watches every ``(layer, metric)`` stream it is fed (``layer`` is ``None``
for run scalars such as ``val_loss``). Rules, none of which needs per-run tuning:

``robust``     (default) robust change detector on the stream's increments: each increment is
               standardised by the median / MAD of ``window`` earlier increments, ending ``lag``
               frames back (a steady wrong-way trend is the baseline, not a change, and a drift
               does not become its own baseline at once; a right-way trend counts as standing
               still, so a healthy trend that slows down is no alarm); it fires on one large jump
               (z >= ``z_jump``) or on a sustained wrong-way drift (one-sided CUSUM of the clipped
               z-scores with allowance ``k`` reaching ``h``). It is silent during the warm-up.
``sentrycam``  (baseline, opt-in) SentryCam's rule: after a 5-step burn-in, the metric moved the
               wrong way 2 steps in a row and the last move exceeds 0.2 x the std of the previous
               10 values.
``hard``       (default) non-finite activations or scalars, exploding norms (after 5 frames,
               ``norm_mean`` > 10 x its running median), mass unit death (``dead_frac`` >= 0.5, or
               up by >= 0.25 on its running median).

Each watched metric has a wrong-way direction (:data:`DIRECTIONS`; scalars named ``*loss*`` are
bad going up, ``*acc*`` going down). Alerts are de-duplicated per ``(layer, metric, rule)``
episode: a rule that keeps firing raises one alert; it re-arms after ``rearm`` quiet updates.
Run scalars come from training batches, so a robust-rule jump on them must persist one more
update (``scalar_confirm``) before it fires; probe metrics fire at once.
:func:`alert_steps` applies one rule to a single series (for benchmarks and comparisons).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np

__all__ = [
    "DIRECTIONS",
    "Alert",
    "AlertEngine",
    "RobustChangeRule",
    "SentryCamRule",
    "StreamRule",
    "alert_steps",
    "direction_of",
    "make_rule",
]

#: +1: going up is bad; -1: going down is bad. Metrics not listed are not trend-watched.
DIRECTIONS: dict[str, int] = {
    "fisher": -1,
    "inter_dist": -1,
    "intra_var": +1,
    "eff_rank": -1,
    "nc1": +1,
    "cka_prev": -1,
    "knn_jaccard_prev": -1,
    "norm_mean": +1,
    "dead_frac": +1,
    "dormant_frac": +1,
}
#: Smallest meaningful change per metric (its resolution): the robust rule never standardises
#: by less, so one unit dying (1/D) or a rounding-level CKA wobble is not a "huge" jump.
SCALE_FLOORS: dict[str, float] = {
    "dead_frac": 0.01,
    "dormant_frac": 0.01,
    "cka_prev": 0.002,
    "knn_jaccard_prev": 0.005,
}
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Alert:
    """One alert: at ``step``, on ``layer`` (``None`` for run scalars), about ``metric``."""

    step: int
    layer: str | None
    metric: str
    message: str
    severity: str  # "info" | "warning" | "critical"
    rule: str = ""
    value: float = float("nan")

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON-compatible form (a non-finite ``value`` becomes ``None``)."""
        d = asdict(self)
        if not math.isfinite(self.value):
            d["value"] = None
        return d


def direction_of(metric: str, overrides: dict[str, int] | None = None) -> int:
    """Wrong-way direction of a stream name: +1, -1, or 0 when unknown (not trend-watched)."""
    if overrides and metric in overrides:
        return overrides[metric]
    if metric in DIRECTIONS:
        return DIRECTIONS[metric]
    low = metric.lower()
    if "loss" in low:
        return +1
    if "acc" in low:
        return -1
    return 0


class StreamRule(Protocol):
    """A trigger rule over one series; ``update`` says whether it fires at this value."""

    name: str

    def update(self, value: float) -> bool: ...


class SentryCamRule:
    """SentryCam's trigger: ``moves`` wrong-way moves in a row, the last > ``factor`` x std."""

    name = "sentrycam"

    def __init__(
        self,
        direction: int,
        *,
        burn_in: int = 5,
        moves: int = 2,
        window: int = 10,
        factor: float = 0.2,
    ) -> None:
        self.direction = direction or 1
        self.burn_in, self.moves, self.window, self.factor = burn_in, moves, window, factor
        self.values: deque[float] = deque(maxlen=max(window, moves) + 1)
        self.count = 0

    def update(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        self.count += 1
        vals = list(self.values)
        self.values.append(value)
        if self.count <= self.burn_in or len(vals) < max(self.moves, 2):
            return False
        seq = [*vals[-self.moves :], value]
        steps = np.diff(seq) * self.direction
        if not (steps > 0).all():
            return False
        hist = vals[-self.window :]
        return bool(steps[-1] > self.factor * float(np.std(hist)))


class RobustChangeRule:
    """Median/MAD-standardised increments; fires on a big jump or a CUSUM of sustained drift."""

    name = "robust"

    def __init__(
        self,
        direction: int,
        *,
        window: int = 20,
        lag: int = 5,
        warmup: int = 10,
        z_jump: float = 8.0,
        k: float = 1.0,
        h: float = 12.0,
        rel_floor: float = 1e-3,
        abs_floor: float = 0.0,
        confirm: int = 0,
    ) -> None:
        self.direction = direction
        self.confirm = confirm
        self.pending: tuple[int, float, float] | None = None  # (updates left, level, scale)
        self.window, self.lag, self.warmup = window, lag, warmup
        self.z_jump, self.k, self.h = z_jump, k, h
        self.rel_floor, self.abs_floor = rel_floor, abs_floor
        self.incs: deque[float] = deque(maxlen=window + lag)
        self.last: float | None = None
        self.last_before: float | None = None
        self.levels: deque[float] = deque(maxlen=window)
        self.cusum = 0.0
        self.z = 0.0

    def update(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.last is None:
            self.last = value
            self.levels.append(value)
            return False
        inc = value - self.last
        self.last_before, self.last = self.last, value
        fired = False
        if len(self.incs) >= self.warmup + self.lag:
            ref = list(self.incs)[: len(self.incs) - self.lag]
            med = _median(ref)
            mad = 1.4826 * _median([abs(r - med) for r in ref])
            level = _median([abs(v) for v in self.levels])
            floor = max(self.rel_floor * level, self.abs_floor, 1e-12)
            scale = max(mad, floor)
            if self.direction:
                # Baseline: the recent trend if it already goes the wrong way, else standing
                # still; a healthy trend that slows down is not a wrong-way move.
                centre = self.direction * max(self.direction * med, 0.0)
                z = self.direction * (inc - centre) / scale
            else:
                z = abs(inc - med) / scale
            self.z = z
            self.cusum = max(0.0, self.cusum + min(z, self.z_jump) - self.k)
            fired = self.cusum >= self.h or self._jump(z, value, scale)
        self.incs.append(inc)
        self.levels.append(value)
        return fired

    def _jump(self, z: float, value: float, scale: float) -> bool:
        """A jump fires at once, or (``confirm`` > 0) once the level stays shifted that long."""
        if self.pending is not None:
            left, base, sc = self.pending
            shift = (value - base) * self.direction if self.direction else abs(value - base)
            if shift < 0.5 * self.z_jump * sc:
                self.pending = None  # the level came back: a one-off spike
            elif left <= 1:
                self.pending = None
                return True
            else:
                self.pending = (left - 1, base, sc)
        if z >= self.z_jump:
            if self.confirm <= 0:
                return True
            if self.pending is None and self.last_before is not None:
                self.pending = (self.confirm, self.last_before, scale)
        return False


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def make_rule(name: str, direction: int, **params: float) -> StreamRule:
    """A fresh rule instance by name (``"robust"`` or ``"sentrycam"``)."""
    if name == "robust":
        return RobustChangeRule(direction, **params)  # type: ignore[arg-type]
    if name == "sentrycam":
        return SentryCamRule(direction, **params)  # type: ignore[arg-type]
    raise ValueError(f"unknown rule {name!r}")


def alert_steps(
    values: Sequence[float],
    steps: Sequence[int] | None = None,
    *,
    rule: str = "robust",
    direction: int = 1,
    start: int | None = None,
    **params: float,
) -> list[int]:
    """Steps at which ``rule`` raises an alert episode on one series (de-duplicated).

    ``direction``: +1 if going up is bad, -1 if going down is bad. ``params``: the rule's
    keyword arguments (for ``"robust"``, ``confirm`` defaults to 0: the bare rule).
    ``start``: only episodes that begin at or after this step are returned (all by default).
    """
    steps = list(range(len(values))) if steps is None else list(steps)
    if rule == "robust":
        params.setdefault("confirm", 0)  # the bare rule: jumps fire at once
    eng = AlertEngine(rules=(rule,), hard=False, directions={"s": direction}, params={rule: params})
    out = []
    for s, v in zip(steps, values, strict=True):
        for a in eng.update(int(s), None, {"s": float(v)}):
            if start is None or a.step >= start:
                out.append(a.step)
    return out


@dataclass
class _Episode:
    active: bool = False
    quiet: int = 0


@dataclass
class _Stream:
    rules: dict[str, StreamRule] = field(default_factory=dict)
    history: deque[float] = field(default_factory=lambda: deque(maxlen=50))


class AlertEngine:
    """Turns metric and scalar streams into de-duplicated alerts.

    ``rules``: trend rules applied to every watched stream (``"robust"``, ``"sentrycam"``).
    ``hard``: the non-finite / exploding-norm / mass-death alerts. ``params``: keyword overrides
    per rule name. ``directions``: extra or overriding wrong-way directions per metric name.
    ``scalar_confirm``: for run scalars (``layer`` None, e.g. a per-batch training loss, whose
    one-off spikes are sampling noise) a robust-rule jump must persist this many more updates
    (at least half the jump threshold above the pre-jump level) before it fires; probe metrics
    are deterministic given the weights and fire at once.
    """

    def __init__(
        self,
        rules: Iterable[str] = ("robust",),
        *,
        hard: bool = True,
        params: dict[str, dict[str, float]] | None = None,
        directions: dict[str, int] | None = None,
        rearm: int = 10,
        scalar_confirm: int = 1,
        norm_factor: float = 10.0,
        dead_level: float = 0.5,
        dead_jump: float = 0.25,
    ) -> None:
        self.rule_names = tuple(rules)
        for r in self.rule_names:
            make_rule(r, 1)  # validate names early
        self.hard = hard
        self.params = params or {}
        self.directions = directions or {}
        self.rearm, self.scalar_confirm = rearm, scalar_confirm
        self.norm_factor, self.dead_level, self.dead_jump = norm_factor, dead_level, dead_jump
        self.streams: dict[tuple[str | None, str], _Stream] = {}
        self.episodes: dict[tuple[str | None, str, str], _Episode] = {}
        self.alerts: list[Alert] = []

    def _stream(self, layer: str | None, metric: str, direction: int) -> _Stream:
        key = (layer, metric)
        st = self.streams.get(key)
        if st is None:
            st = _Stream()
            if direction:
                for r in self.rule_names:
                    p = dict(self.params.get(r, {}))
                    if r == "robust" and metric in SCALE_FLOORS:
                        p.setdefault("abs_floor", SCALE_FLOORS[metric])
                    if r == "robust" and layer is None:
                        p.setdefault("confirm", self.scalar_confirm)
                    st.rules[r] = make_rule(r, direction, **p)
            self.streams[key] = st
        return st

    def _emit(
        self,
        out: list[Alert],
        fired: bool,
        key: tuple[str | None, str, str],
        make: Alert | None,
    ) -> None:
        ep = self.episodes.setdefault(key, _Episode())
        if fired:
            ep.quiet = 0
            if not ep.active and make is not None:
                ep.active = True
                out.append(make)
        elif ep.active:
            ep.quiet += 1
            if ep.quiet >= self.rearm:
                ep.active = False

    def update(self, step: int, layer: str | None, values: dict[str, float]) -> list[Alert]:
        """Feed one frame's metrics (or one step's scalars); return the alerts raised now."""
        out: list[Alert] = []
        where = f"{layer}: " if layer is not None else ""
        for metric, raw in values.items():
            try:
                v = float(raw)
            except (TypeError, ValueError):
                continue
            direction = direction_of(metric, self.directions)
            st = self._stream(layer, metric, direction)
            for name, rule in st.rules.items():
                fired = rule.update(v)
                sev = "info" if name == "sentrycam" else "warning"
                msg = f"{where}{metric} moved the wrong way ({name} rule), now {v:.4g}"
                self._emit(
                    out, fired, (layer, metric, name), Alert(step, layer, metric, msg, sev, name, v)
                )
            if self.hard:
                self._hard(out, step, layer, metric, v, st)
            if math.isfinite(v):
                st.history.append(v)
        self.alerts.extend(out)
        return out

    def _hard(
        self, out: list[Alert], step: int, layer: str | None, metric: str, v: float, st: _Stream
    ) -> None:
        where = f"{layer}: " if layer is not None else ""
        med = _median(list(st.history)) if st.history else math.nan
        if metric == "nonfinite_frac" or layer is None:
            bad = (v > 0) if metric == "nonfinite_frac" else not math.isfinite(v)
            what = f"{v:.2%} of activations are non-finite" if layer else f"{metric} is {v}"
            self._emit(
                out,
                bool(bad),
                (layer, metric, "nonfinite"),
                Alert(step, layer, metric, where + what, "critical", "nonfinite", v),
            )
        elif metric == "norm_mean":
            warm = len(st.history) >= 5  # not against the first frames of a fresh network
            bad = warm and med > 0 and v > self.norm_factor * med
            msg = f"{where}activation norm {v:.4g} > {self.norm_factor:g}x running median {med:.4g}"
            self._emit(
                out,
                bool(bad),
                (layer, metric, "norm"),
                Alert(step, layer, metric, msg, "critical", "norm", v),
            )
        elif metric == "dead_frac":
            base = med if math.isfinite(med) else 0.0
            bad = v >= self.dead_level or v - base >= self.dead_jump
            msg = f"{where}{v:.0%} of units are dead (running median {base:.0%})"
            self._emit(
                out,
                bool(bad),
                (layer, metric, "death"),
                Alert(step, layer, metric, msg, "warning", "death", v),
            )
