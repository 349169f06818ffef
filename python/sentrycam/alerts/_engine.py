"""Alerts over metric and scalar streams.

One :class:`AlertEngine` watches every ``(layer, metric)`` stream it is fed (``layer`` is ``None``
for run scalars such as ``val_loss``). One configuration for every run; every window counts
training steps, not frames (see :mod:`sentrycam.rules`). Rules:

``robust``     (default) a robust level test of each watched metric against a lagged,
               trend-aware reference window: a jump, or a wrong-way departure that lasts.
``sentrycam``  (baseline, opt-in) SentryCam's rule as published.
``hard``       (default) non-finite activations or scalars (immediate: no warm-up); exploding
               activation norms (``norm_mean`` > 10 x its median over 50 steps); mass unit death
               (``dead_frac`` up by >= 0.25 on its reference median); a layer that stopped
               learning (``change_prev`` per step under 1% of its reference median for 100 steps,
               40% while a passed learning rate holds); a training loss averaged over many
               steps that rose 2x over its recent low for 100 steps.
``forgetting`` (default) after a task boundary, a group's accuracy or its representation lost
               since the end of its task (:mod:`sentrycam.forgetting`); per-group metrics
               (``accuracy@g`` ...) are watched by this rule only.

No rule but the non-finite one fires during a warm-up (:class:`~sentrycam.rules.Warmup`, in steps
and frames): a fresh network's norms grow several-fold, its rank and dead fractions move, and
that is the normal regime, not a failure. Each watched metric has a wrong-way direction
(:data:`DIRECTIONS`; scalars named ``*loss*`` are bad going up, ``*acc*`` going down). Alerts are
de-duplicated per ``(layer, metric, rule)`` episode: a rule that keeps firing raises one alert; it
re-arms after ``rearm_steps`` quiet steps. Run scalars come from training batches, so a jump on
them must persist one more update (``scalar_confirm``). Every alert carries its evidence and a
message that says what changed and its likely causes (:mod:`sentrycam.explain`).
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..base import split_group_metric
from ..contract import METRICS, OUTPUT_METRICS, SEVERITY_RANK
from ._alert import Alert
from ._explain import explain
from ._forgetting import ForgettingRule
from ._hard import Episode, HardRules, Stream
from ._incidents import Incidents
from ._rules import (
    BATCH_SCALAR_MIN_POINTS,
    EVIDENCE_POINTS,
    FULL_REFERENCE,
    LAYER_MIN_POINTS,
    History,
    RobustChangeRule,
    SentryCamRule,
    StreamRule,
    Verdict,
    Warmup,
    mad_spread,
    make_rule,
    median,
)

__all__ = [
    "BETWEEN_FRAMES",
    "DIRECTIONS",
    "Alert",
    "AlertEngine",
    "RobustChangeRule",
    "SentryCamRule",
    "StreamRule",
    "Warmup",
    "direction_of",
    "make_rule",
]

#: +1: going up is bad; -1: going down is bad (the registry's ``bad``). Metrics not listed
#: are not trend-watched.
_WATCHED = [*METRICS.values(), *OUTPUT_METRICS.values()]
DIRECTIONS: dict[str, int] = {m.name: m.direction for m in _WATCHED if m.direction}
#: Smallest meaningful change per metric (its resolution, the registry's ``floor``): the robust
#: rule never standardises by less, so a few units of a narrow layer flickering between dead and
#: alive (1/D each), or the CKA between frames dipping from 0.997 to 0.97 through a healthy SGD
#: run's brief loss spike, is not a "huge" jump.
SCALE_FLOORS: dict[str, float] = {m.name: m.floor for m in _WATCHED if m.floor}
#: Smallest wrong-way change worth an alert, as a share of the reference level (the registry's
#: ``min_effect``), for metrics whose scale is arbitrary: late in a run, with a small learning
#: rate, a stream is so steady that a 1% drift is many spreads, and still nothing is wrong.
MIN_EFFECT: dict[str, float] = {m.name: m.min_effect for m in _WATCHED if m.min_effect}
#: Metrics of the change between two frames: one SGD step that moved a layer more than usual
#: dips them for one frame (EfficientNet: CKA 0.986 -> 0.939 -> 0.994), so a jump must hold
#: (half of it) at the next frame, as a scalar's must; a failure keeps them down.
BETWEEN_FRAMES = ("cka_prev", "knn_jaccard_prev")
#: Smallest wrong-way change of a run scalar worth an alert (share of its level): a validation
#: accuracy steady at 0.98 that dips to 0.95 is many spreads and still noise.
SCALAR_MIN_EFFECT = 0.05
#: A run scalar's spread is at least this share of the largest value it has had: a training
#: loss that fell from 2.3 to 0.0006 and wanders to 0.003 grew "by a factor of 5" and is still
#: zero for every purpose.
SCALAR_PEAK_FLOOR = 0.01
#: A stream is clearly better (worse) than its reference when it moved the right (wrong) way by
#: this share of its level (class separation, validation loss and accuracy: AlertEngine._improving).
IMPROVEMENT = 0.05
#: Frames of reference enough to tell an improvement (a gain of IMPROVEMENT on their median): a
#: sparse cadence (every=50) reaches the trend rules' 20 frames only after 1,000 steps.
GAIN_POINTS = 3
#: A gain within this many spreads of the reference is noise: a near-chance validation accuracy
#: moving by two probe samples (0.094 -> 0.078, "16% worse") is no sign that a take-off is a
#: failure. The spread is read from how far the reference moves from one frame to the next (the
#: median of those moves, as a standard deviation, widened for few frames as the robust rule
#: widens it): one frame of the change inside the window, or a steady climb, is not noise.
GAIN_NOISE = 3.0
#: The least spread of a validation accuracy: on a small validation set it moves in steps of a
#: sample (1/128 here and there), and a reference steady at one value has no spread at all.
SHARE_RESOLUTION = 0.01
#: Scalars taken for the learning rate: while it rises from the run's start (a schedule's
#: warm-up), and for a warm-up after, no rule but the non-finite one fires.
LR_NAMES = ("lr", "learning_rate")
#: Run scalars measured on held-out data, not on training batches.
HELD_OUT_PREFIXES = ("val", "eval", "test")
#: A learning rate that stays above this share of its highest value over a reference window has
#: held (a step decay of x0.1 has not; a cosine schedule holds for a while, then does not).
LR_STEADY_SHARE = 0.5
#: ... over this many steps: twice a reference window and its lag, because a layer keeps slowing
#: for hundreds of steps after a decay (MobileNetV3's BatchNorm, momentum 0.01, follows slowly).
LR_STEADY_STEPS = 500
#: Whether a training loss's reference follows its own rising trend, as a layer metric's does
#: (a fresh network's norms grow, and that is the baseline). A training loss that rises is never
#: a baseline: at every=50 the reference ends one frame back, and a loss that rises gradually
#: (label noise: 0.04, 0.12, 0.48, 0.72 over 150 steps) would be extrapolated as its own level.
FOLLOW_LOSS_TREND = False
#: A training scalar that is the mean of at least this many steps (``step()`` averages what it
#: is given between captures) is about as steady as a layer metric on the fixed probe (its noise
#: is a third of one batch's, or less), so its rule judges from LAYER_MIN_POINTS frames, not
#: BATCH_SCALAR_MIN_POINTS: at every=50 from step 350, not 1,050.
STEADY_MEAN_STEPS = 10


def takes_averaged(engine: Any) -> bool:
    """Whether ``engine.update`` takes ``averaged=`` (an engine of your own may predate it: its
    scalars are then fed as before, without how many steps each value is the mean of)."""
    try:
        params = inspect.signature(engine.update).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "averaged" or p.kind is p.VAR_KEYWORD for p in params)


def training_loss(metric: str) -> bool:
    """Whether a run scalar reads as a training loss: named ``*loss*``, not measured on held-out
    data (``val*``, ``eval*``, ``test*``)."""
    low = metric.lower()
    return "loss" in low and not low.startswith(HELD_OUT_PREFIXES)


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


class AlertEngine:
    """Turns metric and scalar streams into de-duplicated alerts with evidence.

    ``rules``: trend rules applied to every watched stream (``"robust"``, ``"sentrycam"``).
    ``hard``: the non-finite / exploding-norm / mass-death / stopped-layer alerts. ``params``:
    keyword overrides per rule name. ``directions``: extra or overriding wrong-way directions
    per metric name. ``warmup``: steps and frames of history every rule but the non-finite one
    waits for. ``rearm_steps``: quiet steps after which a rule's episode can fire again.
    ``scalar_confirm``: for run scalars (``layer`` None, e.g. a per-batch training loss) a
    jump must persist this many more updates before it fires. ``forgetting``: run the
    forgetting rule on per-group metrics (:mod:`sentrycam.forgetting`).
    """

    def __init__(
        self,
        rules: Iterable[str] = ("robust",),
        *,
        hard: bool = True,
        params: dict[str, dict[str, Any]] | None = None,
        directions: dict[str, int] | None = None,
        warmup: Warmup | None = None,
        rearm_steps: int = 300,
        scalar_confirm: int = 1,
        forgetting: bool = True,
    ) -> None:
        self.rule_names = tuple(rules)
        for r in self.rule_names:
            make_rule(r, 1)  # validate names early
        self.hard = hard
        self.params = params or {}
        self.directions = directions or {}
        self.warmup = warmup or Warmup()
        self.rearm_steps, self.scalar_confirm = rearm_steps, scalar_confirm
        self.forgetting = ForgettingRule(rearm_steps=rearm_steps) if forgetting else None
        self.reference = RobustChangeRule(1, warmup=self.warmup, **self._robust_params())
        self.hard_rules = HardRules(self.warmup, self.reference)
        self.incidents = Incidents(rearm_steps)
        self.streams: dict[tuple[str | None, str], Stream] = {}
        self.hold_until = -(2**62)  # no rule but non-finite before this step (lr warm-up)
        self._latest = -(2**62)  # the latest step fed
        self._lr_rising = True
        self._lr_last: float | None = None
        self._preview: tuple[int, dict[str, float]] | None = None  # a step's scalars, ahead

    def _robust_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.params.get("robust", {}).items() if k != "confirm"}

    def _stream(self, layer: str | None, metric: str) -> Stream:
        key = (layer, metric)
        st = self.streams.get(key)
        if st is None:
            direction = direction_of(metric, self.directions)
            keep = 2 * (self.reference.window + self.reference.lag) + self.warmup.steps
            keep = max(keep, LR_STEADY_STEPS + self.warmup.steps)  # what _lr_steady reads
            st = Stream(History(keep), direction)
            if direction:
                for r in self.rule_names:
                    p = dict(self.params.get(r, {}))
                    if r == "robust":
                        p.setdefault("warmup", self.warmup)
                        if metric in SCALE_FLOORS:
                            p.setdefault("abs_floor", SCALE_FLOORS[metric])
                        if metric in MIN_EFFECT:
                            p.setdefault("min_effect", MIN_EFFECT[metric])
                        if metric in BETWEEN_FRAMES:
                            p.setdefault("confirm", 1)
                        if layer is None and metric not in OUTPUT_METRICS:  # run scalars
                            p.setdefault("confirm", self.scalar_confirm)
                            p.setdefault("min_effect", SCALAR_MIN_EFFECT)
                            p.setdefault("peak_floor", SCALAR_PEAK_FLOOR)
                            if not metric.lower().startswith("val"):  # from training batches
                                given = p.get("min_points")
                                st.batch_points = (
                                    (given, given)
                                    if given is not None
                                    else (BATCH_SCALAR_MIN_POINTS, LAYER_MIN_POINTS)
                                )
                                p["min_points"] = st.batch_points[0]
                                st.training_loss = training_loss(metric)
                                if st.training_loss:
                                    p.setdefault("follow_trend", FOLLOW_LOSS_TREND)
                    st.rules[r] = make_rule(r, direction, **p)
            self.streams[key] = st
        return st

    def update(
        self,
        step: int,
        layer: str | None,
        values: dict[str, float],
        *,
        tasks: Sequence[Any] | None = None,
        averaged: Mapping[str, int] | None = None,
    ) -> list[Alert]:
        """Feed one frame's metrics (or one step's scalars); return the alerts raised now.

        ``tasks``: the task boundaries marked when the frame was captured (for the forgetting
        rule; ``None``: as last time). A frame's per-group
        metrics (``accuracy@g`` ...) go to the forgetting rule only; run scalars never do.
        ``averaged``: for run scalars, how many training steps each value is the mean of (1
        where not given): a training loss averaged over STEADY_MEAN_STEPS or more is judged
        from fewer reference frames.
        """
        out: list[Alert] = []
        step = int(step)
        if step < self._latest:  # steps went backwards: a new run, no incident open
            self.incidents.reset()
        self._latest = step
        per_group: dict[str, float] = {}
        fired: list[tuple[str, float, str, Verdict, str, Stream]] = []
        for metric, raw in values.items():
            if layer is not None and split_group_metric(metric) is not None:
                per_group[metric] = raw
                continue
            try:
                v = float(raw)
            except (TypeError, ValueError):
                continue
            steps = averaged.get(metric, 1) if averaged else 1
            fired += self._judge(step, layer, metric, v, steps)
        # Trend alerts on a layer whose classes separate better while the run's validation
        # improves are a phase of learning, not a failure; so are the model output's (its logits
        # grow as it learns) while the layers' classes separate. Hard rules are told regardless.
        improving = self._improving(layer, step) if layer is not None or fired else False
        told: set[str] = set()
        for metric, v, name, verdict, severity, st in fired:
            if improving and (name in self.rule_names or name in ("norm", "rise")):
                continue  # a slow starter's norms grow fast as it takes off
            if self._emit(out, step, layer, metric, v, name, verdict, severity, st, metric in told):
                told.add(metric)
        if self.forgetting is not None and (per_group or tasks is not None):
            out += self.forgetting.observe(step, layer, per_group, tasks)
        raised = self.incidents.admit(out)
        if fired:
            self.incidents.active(step)  # after: a quiet spell is judged from the last firing
        return raised

    def preview(self, step: int, scalars: dict[str, float]) -> None:
        """The run scalars of ``step``, told before its layers are fed (they are fed after them,
        so that an incident's first alert names the layer): whether the task improves at
        ``step`` is judged with this step's validation scalars, not the previous capture's."""
        self._preview = (int(step), readable_floats(scalars))

    def take_updated(self) -> list[Alert]:
        """Alerts raised earlier whose incident has grown since the last call (for the views)."""
        return self.incidents.take_updated()

    def _judge(
        self, step: int, layer: str | None, metric: str, v: float, steps: int = 1
    ) -> list[tuple[str, float, str, Verdict, str, Stream]]:
        """Feed one value (the mean of ``steps`` training steps) to its stream; the rules that
        fire on it, the worst first."""
        st = self._stream(layer, metric)
        last = st.history.last_step
        if last is not None and step < last:
            st = self._restart(layer, metric)  # steps went backwards: a new run
        elif last is not None and step == last and math.isfinite(v):
            return []  # the same step again (a duplicate feed): nothing new to judge
        if layer is None and metric.lower() in LR_NAMES:
            self._follow_lr(step, v)
        mean = steps >= STEADY_MEAN_STEPS
        if st.batch_points is not None:
            points = st.batch_points[mean]
            for rule in st.rules.values():
                if isinstance(rule, RobustChangeRule):
                    rule.min_points = points
        held = step < self.hold_until
        fired: list[tuple[str, Verdict, str]] = []
        for name, rule in st.rules.items():
            verdict = None if held else rule.check(st.history, step, v)
            if verdict is not None:
                fired.append((name, verdict, "info" if name == "sentrycam" else "warning"))
        if self.hard:  # first: a hard rule says more than a trend on the same metric
            steady = metric == "change_prev" and self._lr_steady(step)
            fired = self.hard_rules.check(st, layer, metric, step, v, held, steady, mean) + fired
        fired.sort(key=lambda f: -SEVERITY_RANK.get(f[2], -1))  # the worst one tells
        st.history.add(step, v)
        self._quiet(st, step, {name for name, _, _ in fired})
        return [(metric, v, name, verdict, severity, st) for name, verdict, severity in fired]

    def _lr_steady(self, step: int) -> bool:
        """Whether a learning rate was passed and has held for LR_STEADY_STEPS: never under
        LR_STEADY_SHARE of its highest value over them, this step's included."""
        for (where, metric), st in self.streams.items():
            if where is not None or metric.lower() not in LR_NAMES:
                continue
            first = st.history.first_step
            if first is None or first > step - LR_STEADY_STEPS:
                return False
            _, vals = st.history.finite_between(step - LR_STEADY_STEPS, step)
            ahead = (
                self._preview[1].get(metric) if self._preview and self._preview[0] == step else None
            )
            if ahead is not None and math.isfinite(ahead):
                vals = [*vals, ahead]
            if len(vals) < 3 or max(vals) <= 0:
                return False
            return min(vals) >= LR_STEADY_SHARE * max(vals)
        return False

    def _improving(self, layer: str | None, step: int) -> bool:
        """Whether the task is going well at ``step``: the layer's class separation (Fisher
        ratio; for run scalars, that of any layer) or a validation scalar is clearly better than
        its reference, while no such class separation and no validation scalar is clearly
        worse. A validation accuracy clearly better outweighs the others: a network taking off
        from chance is often overconfident for a while (its loss up several fold while its
        accuracy climbs), an early layer may separate the classes less as the whole learns more,
        and the accuracy is what the task is judged by. False when there is nothing to judge
        by."""
        fishers = [
            self._gain(st, step)
            for (where, metric), st in self.streams.items()
            if metric == "fisher" and where is not None and where == (layer or where)
        ]
        accs: list[float | None] = []
        others: list[float | None] = []
        ahead = self._preview[1] if self._preview is not None and self._preview[0] == step else {}
        for (where, metric), st in self.streams.items():
            if where is None and st.direction and metric.lower().startswith("val"):
                if st.direction < 0 and "acc" in metric.lower():
                    accs.append(self._gain(st, step, ahead.get(metric), SHARE_RESOLUTION))
                else:
                    others.append(self._gain(st, step, ahead.get(metric)))
        if _any_worse(accs):
            return False
        if _any_better(accs):
            return True  # an early layer may separate classes less as the whole learns more
        return (_any_better(fishers) or _any_better(others)) and not (
            _any_worse(fishers) or _any_worse(others)
        )

    def _gain(
        self, st: Stream, step: int, ahead: float | None = None, resolution: float = 0.0
    ) -> float | None:
        """How much better than its reference a stream's latest value (at most ``rearm_steps``
        old; ``ahead``: its value at ``step``, previewed) is, as a share of that reference; 0
        within the reference's noise (GAIN_NOISE spreads, the spread at least ``resolution``);
        None when that cannot be told."""
        last = st.history.last_step
        if ahead is not None and math.isfinite(ahead) and last is not None and last < step:
            last, value = step, ahead
        elif last is None or step - last > self.rearm_steps:
            return None
        else:
            value = st.history.values[-1]
        if not st.direction:
            return None
        ref = self.reference  # its window and lag; its level is not moved along a trend
        _, vals = st.history.reference(last - ref.lag, ref.window, GAIN_POINTS)
        level = median(vals) if vals else math.nan
        if not (math.isfinite(value) and math.isfinite(level)) or level == 0:
            return None
        moves = [abs(b - a) for a, b in itertools.pairwise(vals)]  # from one frame to the next
        spread = mad_spread(moves, 0.0) / math.sqrt(2) if moves else 0.0
        spread = max(spread * math.sqrt(max(1.0, FULL_REFERENCE / len(vals))), resolution)
        if abs(value - level) <= GAIN_NOISE * spread:
            return 0.0  # within the noise of its reference: neither better nor worse
        return -st.direction * (value - level) / abs(level)

    def _restart(self, layer: str | None, metric: str) -> Stream:
        del self.streams[(layer, metric)]  # its history and episodes go with it
        return self._stream(layer, metric)

    def _follow_lr(self, step: int, lr: float) -> None:
        """While the learning rate rises from the run's start, hold every rule but non-finite
        until a warm-up after it stops (the first value that does not rise ends this for good,
        so a later ramp or spike is judged as usual)."""
        if not self._lr_rising or not math.isfinite(lr):
            return
        if self._lr_last is not None:
            if lr <= self._lr_last:
                self._lr_rising = False
                return
            self.hold_until = step + self.warmup.steps
        self._lr_last = lr

    def _emit(
        self,
        out: list[Alert],
        step: int,
        layer: str | None,
        metric: str,
        value: float,
        rule: str,
        verdict: Verdict,
        severity: str,
        st: Stream,
        told: bool,
    ) -> bool:
        """Open (or extend) the rule's episode; raise an alert for a new one unless another
        rule already told of this metric at this step. Whether an alert was raised."""
        ep = st.episodes.setdefault(rule, Episode())
        ep.last_fired = step
        if ep.active or told:
            ep.active = True
            return False
        ep.active = True
        hist = st.rates if rule == "stopped" and st.rates is not None else st.history
        n = min(len(hist.steps), EVIDENCE_POINTS)
        evidence = {
            "steps": list(hist.steps)[-n:],
            "values": list(hist.values)[-n:],
            "reference": verdict.reference,
            "spread": verdict.spread,
            "threshold": verdict.threshold,
            "window": list(verdict.window) if verdict.window else None,
            "direction": -1 if rule == "stopped" else (st.direction or 1),
            "kind": verdict.kind,
            "since": verdict.since,
            "z": verdict.z,
        }
        if rule == "stopped":
            evidence["per_step"] = True  # values are the change per step
        msg = explain(metric, layer, verdict, value, step, st.direction)
        out.append(Alert(step, layer, metric, msg, severity, rule, value, evidence))
        return True

    def _quiet(self, st: Stream, step: int, fired: set[str]) -> None:
        """Re-arm the stream's episodes that have been quiet for ``rearm_steps``."""
        for rule, ep in st.episodes.items():
            if ep.active and rule not in fired and step - ep.last_fired >= self.rearm_steps:
                ep.active = False


def readable_floats(values: dict[str, Any]) -> dict[str, float]:
    """The values that read as floats, by name (others are left out, as ``update`` leaves them)."""
    out: dict[str, float] = {}
    for k, v in values.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            continue
    return out


def _any_better(gains: Sequence[float | None]) -> bool:
    return any(g is not None and g >= IMPROVEMENT for g in gains)


def _any_worse(gains: Sequence[float | None]) -> bool:
    return any(g is not None and g <= -IMPROVEMENT for g in gains)
