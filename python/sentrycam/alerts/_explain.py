"""Plain-language alert messages: what changed, by how much, in how many steps, and why.

One table (:data:`METRIC_TEXT`, from the metric registry) says, per watched metric, what it is,
what a wrong-way change means, and its usual causes; :func:`explain` turns a rule's
:class:`Verdict` into a sentence such as "fc1: effective rank (RankMe) fell 45% in 40 steps: the
representation is collapsing into fewer dimensions — learning rate too high, or too much weight
decay?".
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..contract import METRICS, OUTPUT_METRICS
from ._hard import RISE_SPAN, STILL_RATIO
from ._rules import Verdict

__all__ = ["METRIC_TEXT", "MetricText", "explain", "explain_forgetting"]


class MetricText(NamedTuple):
    """How to talk about one metric: its name, the meaning of a wrong-way move, likely causes."""

    noun: str
    meaning: str
    causes: str
    style: str = "relative"  # how a change is told: "relative" (45%), "percent" (to 6%), "level"


#: Per watched metric (the registry's ``noun``, ``change``, ``causes`` and ``style``).
METRIC_TEXT: dict[str, MetricText] = {
    m.name: MetricText(m.noun, m.change, m.causes, m.style)
    for m in (*METRICS.values(), *OUTPUT_METRICS.values())
    if m.change
}
_CAUSES = "learning rate too high, a data problem, or overfitting"
_LOSS = MetricText("", "the loss is rising", _CAUSES)
_ACC = MetricText("", "accuracy is falling", _CAUSES)
_OTHER = MetricText("", "it moved the wrong way", "a change in the run")


def _text(metric: str) -> MetricText:
    if metric in METRIC_TEXT:
        return METRIC_TEXT[metric]
    low = metric.lower()
    base = _LOSS if "loss" in low else _ACC if "acc" in low else _OTHER
    return base._replace(noun=metric)


#: A departure of more spreads than this is told as "far outside" (a stream that was exactly
#: constant has a spread at its floor, and the ratio means nothing).
MAX_TOLD_Z = 1000.0


def _num(x: float, digits: int = 3) -> str:
    """A number as a person reads it: "0.012", "3.5", "41200", "2.9x10^38" (never "2.9e+38")."""
    if x == 0 or not math.isfinite(x) or 1e-3 <= abs(x) < 1e6:
        return f"{x:.{digits}g}"
    exp = math.floor(math.log10(abs(x)))
    return f"{x / 10**exp:.{digits - 1}g}x10^{exp}"


def _factor(ratio: float) -> str:
    """A growth factor a person reads at a glance: "12", "340", "10^38"."""
    if ratio < 1000:
        return f"{ratio:.3g}"
    return f"10^{round(math.log10(ratio))}"


def _share(ratio: float) -> str:
    """What is left of a level, told as a share of it: "3% of its level", "10^-7 of its level"."""
    pct = 100 * ratio
    if pct >= 1:
        return f"{pct:.0f}% of its level"
    if pct >= 0.01:
        return f"{pct:.2g}% of its level"
    return f"10^{round(math.log10(ratio))} of its level"


def _level(x: float, style: str) -> str:
    if style == "percent":
        return f"{x:.0%}"
    return f"{x:.3f}" if style == "level" else _num(x)


def explain(
    metric: str, layer: str | None, verdict: Verdict, value: float, step: int, direction: int
) -> str:
    """The message of one alert (see the module docstring for its shape)."""
    where = f"{layer}: " if layer is not None else ""
    t = _text(metric)
    if verdict.kind == "nonfinite":
        if layer is None:
            return (
                f"{metric} is {value}: training has diverged — lower the learning rate, clip "
                "gradients, or look for a log(0) or a division by zero?"
            )
        share = f"{value:.2%}" if value >= 1e-4 else f"{value:.1e} of all"
        return (
            f"{where}{share} of activations are non-finite (NaN or inf): training has "
            "diverged — lower the learning rate, clip gradients, or use bfloat16 rather than "
            "float16?"
        )
    if verdict.kind == "rise":
        low, start = verdict.reference, verdict.window[0] if verdict.window else step
        now = verdict.level if verdict.level is not None else value
        return (
            f"{metric} rose to {_factor(now / low)}x its low of {_num(low)} (its mean over "
            f"{RISE_SPAN} steps, at step {start}), and its mean over the {RISE_SPAN} steps before "
            "was past "
            f"{_factor(verdict.threshold / low)}x too: training is getting worse — noisy or "
            "wrong labels, shifted inputs, or a learning rate too high?"
        )
    if verdict.kind == "frozen":
        span = step - (verdict.since if verdict.since is not None else step)
        share = verdict.threshold / verdict.reference if verdict.reference > 0 else 0.0
        if share > STILL_RATIO:  # judged while the learning rate held: it still jitters
            return (
                f"{where}for {span} steps the layer has moved under {share:.0%} of its usual "
                f"change per step (under {_num(verdict.threshold, 2)}, usually "
                f"{_num(verdict.reference, 2)}) while the learning rate held (what still moves "
                f"may be BatchNorm's running statistics or the layers before it): {t.meaning} — "
                f"{t.causes}?"
            )
        return (
            f"{where}the layer has not changed in {span} steps (moves under "
            f"{_num(verdict.threshold, 2)} per step, usually {_num(verdict.reference, 2)}): "
            f"{t.meaning} — {t.causes}?"
        )
    ref = verdict.reference
    if verdict.level is not None:  # a sustained departure: tell its mean over the window
        value = verdict.level
    verb = "rose" if value > ref else "fell"
    same_sign = ref != 0 and value / ref > 0
    if t.style != "relative":
        amount = f"to {_level(value, t.style)} (usually {_level(ref, t.style)})"
    elif ref != 0 and math.isfinite(ref) and value == 0:
        amount = f"to 0 (usually {_num(ref)})"
    elif verdict.kind == "explosion" or (same_sign and max(value / ref, ref / value) >= 3):
        ratio = abs(value / ref)
        verb = "grew" if ratio > 1 else "fell"
        amount = f"by a factor of {_factor(ratio)}" if ratio > 1 else f"to {_share(ratio)}"
    elif ref != 0 and math.isfinite(ref):
        amount = f"{abs(value - ref) / abs(ref):.0%}"
    else:
        amount = f"to {_num(value)}"
    since = verdict.since if verdict.since is not None else step
    lo = verdict.window[1] if verdict.window else since
    span = max(step - min(since, lo), 0)
    z = verdict.z
    how = {
        "jump": (
            "far outside its usual spread"
            if not math.isfinite(z) or z >= MAX_TOLD_Z
            else f"{z:.0f}x its usual spread"
        ),
        "sustained": f"on average over the last steps, past the threshold since step {since}",
        "explosion": f"against its median of {_num(ref)} over the frames before",
        "death": f"{100 * (verdict.threshold - ref):.0f} points or more above its reference",
        "sentrycam": "SentryCam's rule",
    }.get(verdict.kind, verdict.kind)
    return f"{where}{t.noun} {verb} {amount} in {span} steps ({how}): {t.meaning} — {t.causes}?"


def explain_forgetting(
    kind: str,
    layer: str | None,
    group: str,
    task: str,
    later: list[str],
    value: float,
    reference: float,
    threshold: float,
    task_end: int,
    span: int,
) -> str:
    """The message of a forgetting alert (``kind``: ``"accuracy"`` or ``"cka"``) on ``group``,
    whose task ``task`` ended at step ``task_end`` and was followed by the tasks ``later``;
    the value has been past ``threshold`` for ``span`` steps."""
    after = ", then ".join(repr(t) for t in later) or "a later task"
    causes = (
        f"catastrophic forgetting — training on task {after} overwrote what the network had "
        f"learnt for {group!r}; rehearse old samples (replay), lower the learning rate, or "
        "regularise (EWC, distillation)?"
    )
    if kind == "accuracy":
        return (
            f"accuracy on group {group!r} fell from {reference:.2f} at the end of its task "
            f"{task!r} (step {task_end}) to {value:.2f} (-{reference - value:.2f}; below "
            f"{threshold:.2f} for {span} steps): {causes}"
        )
    return (
        f"{layer}: group {group!r} is represented very differently from the end of its task "
        f"{task!r} (step {task_end}): linear CKA {value:.2f} against those same samples then "
        f"(below {threshold:.2f} for {span} steps): {causes}"
    )
