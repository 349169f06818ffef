"""The hard rules: what is wrong whatever the trend (non-finite values, exploding norms, units
lost en masse, a layer that stopped learning, a training loss that rose), and the per-stream
state every rule keeps.

Non-finite values fire at once, and are held by nothing. Exploding norms (against the median of
the last EXPLOSION_STEPS steps) are judged from the second frame, but before a stream's warm-up
is done only past EARLY_NORM_LIMIT (a fresh library model's norms grow up to millions of times
over its first frames, to small values); lost units are judged once the warm-up is done. A
learning-rate warm-up holds neither. A stopped layer needs its usual change, so it waits for the
warm-up like the trend rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._rules import History, RobustChangeRule, StreamRule, Verdict, Warmup, mad_spread, median

__all__ = [
    "DEAD_JUMP",
    "EARLY_NORM_LIMIT",
    "EXPLOSION_STEPS",
    "NORM_FACTOR",
    "UNIT_LOSS",
    "Episode",
    "HardRules",
    "Stream",
]

#: Exploding norms: ``norm_mean`` above this many times its median over the previous
#: EXPLOSION_STEPS steps (the previous frame at least). A short window: a slow starter's norms
#: grow ten-fold over a hundred steps as it takes off (GPT-2, an LSTM in the library corpus),
#: against a median that still holds its pre-takeoff frames; an explosion does it at once.
NORM_FACTOR = 10.0
EXPLOSION_STEPS = 50
#: Before a stream's warm-up is done, only a mean row norm past this is an explosion (when it also
#: grew NORM_FACTOR x): a healthy fresh network's norms grow many-fold, but not to a million (the
#: largest in the library corpus's first frames: about 30), while a diverging one passes it on
#: its way to float32's maximum, frames before it is non-finite.
EARLY_NORM_LIMIT = 1e6
#: Mass unit loss: ``dead_frac`` (or ``constant_frac``) up by this much on its reference median.
DEAD_JUMP = 0.25
UNIT_LOSS = ("dead_frac", "constant_frac")
#: A stopped layer moves less than this share of its usual change per step ...
STILL_RATIO = 0.01
#: ... for this many steps (two frames at least), judged against changes measured over gaps of
#: a similar number of steps (within this factor): SGD noise does not grow linearly with the gap,
#: so a cadence stretched by a budget would otherwise look like a layer slowing down.
STILL_STEPS = 100
STILL_GAP_FACTOR = 2.0
#: While the learning rate you pass holds (it did not fall under half its highest value over the
#: reference window), a layer moving under this share of its usual change per step for
#: STILL_STEPS has stopped learning too: a frozen layer under BatchNorm still moves, as its
#: running statistics follow each batch (ResNet, MobileNetV3, EfficientNet in the library
#: corpus: 25-35% of its usual change at every=10), and only a falling learning rate slows a
#: learning layer that much that soon.
STILL_RATIO_STEADY_LR = 0.4
#: A training loss that is the mean of many steps (see the engine's STEADY_MEAN_STEPS) rose when
#: its means over the last RISE_SPAN steps and over the RISE_SPAN steps before are both at least
#: this many times its lowest such mean over LOSS_LOW_STEPS (at every=10 one capture's mean of
#: 10 batches swings 5-fold near zero loss; at every=50, two captures in a row) ...
LOSS_RISE = 2.0
RISE_SPAN = 50
LOSS_LOW_STEPS = 300
#: ... and above it by this share of the highest value the loss has had (since the run began) at
#: least: a loss that
#: fell from 2.3 to 0.01 and wanders to 0.025 has not risen for any purpose.
LOSS_RISE_MIN = 0.05


@dataclass
class Episode:
    active: bool = False
    last_fired: int = 0


@dataclass
class Stream:
    history: History
    direction: int
    rules: dict[str, StreamRule] = field(default_factory=dict)
    rates: History | None = None  # change per step (the stopped-layer rule's stream)
    gaps: dict[int, int] = field(default_factory=dict)  # step -> the gap its rate was over
    still_since: int | None = None  # the stopped-layer rule's run of still frames
    still_frames: int = 0
    episodes: dict[str, Episode] = field(default_factory=dict)  # per rule name
    #: A training scalar's reference frames: (for one step's value, for a steady mean); None
    #: for other streams.
    batch_points: tuple[int, int] | None = None
    training_loss: bool = False  # a run scalar named *loss* from training batches
    peak: float = 0.0  # the highest value since the stream began (the loss-rise rule's scale)


class HardRules:
    """The hard rules over one engine's streams (``reference``: the window the stopped-layer rule
    compares against; ``warmup``: what it waits for)."""

    def __init__(self, warmup: Warmup, reference: RobustChangeRule) -> None:
        self.warmup = warmup
        self.reference = reference

    def check(
        self,
        st: Stream,
        layer: str | None,
        metric: str,
        step: int,
        v: float,
        held: bool,
        lr_steady: bool = False,
        steady_mean: bool = False,
    ) -> list[tuple[str, Verdict, str]]:
        """The hard rules that fire on ``v`` at ``step`` (``held``: a learning-rate warm-up holds
        the stopped-layer rule; non-finite values, explosions and unit loss are told anyway;
        ``lr_steady``: the learning rate is known and has not fallen; ``steady_mean``: ``v`` is a
        training scalar averaged over many steps)."""
        if metric == "nonfinite_frac" or layer is None:
            bad = (v > 0) if metric == "nonfinite_frac" else not math.isfinite(v)
            if bad:
                # a fraction of non-finite values is compared with 0; a scalar with nothing
                zero = 0.0 if metric == "nonfinite_frac" else math.nan
                return [("nonfinite", Verdict("nonfinite", zero, zero, zero), "critical")]
            if st.training_loss:
                st.peak = max(st.peak, v)  # every value counts, averaged or not, held or not
                if steady_mean and not held:
                    return self._rise(st, step, v)
            return []
        if metric not in ("norm_mean", *UNIT_LOSS, "change_prev") or not math.isfinite(v):
            return []
        if metric == "change_prev":
            return self._still(st, step, v, held, lr_steady)
        # Against the frames before this one (no lag). From the second frame only past
        # EARLY_NORM_LIMIT: library models' first frames grow 20 to 5,000,000x from their
        # initialisation (MobileNetV3, EfficientNet at step 10), and that is no explosion.
        warm = self.warmup.done(st.history, step)
        if metric == "norm_mean" and (warm or v > EARLY_NORM_LIMIT):
            steps, vals = st.history.reference(step - 1, EXPLOSION_STEPS, 1)
            med = median(vals) if vals else math.nan
            if med > 0 and v > NORM_FACTOR * med:
                window = (steps[0], steps[-1])
                verdict = Verdict(
                    "explosion", med, mad_spread(vals, med), NORM_FACTOR * med, window, steps[0]
                )
                return [("norm", verdict, "critical")]
            return []
        if not warm:
            return []
        ref_rule = self.reference
        steps, vals = st.history.reference(step - 1, ref_rule.window + ref_rule.lag, 1)
        if not vals:
            return []
        med = median(vals)
        window = (steps[0], steps[-1])
        spread = mad_spread(vals, med)
        if metric in UNIT_LOSS and v - med >= DEAD_JUMP:
            verdict = Verdict("death", med, spread, med + DEAD_JUMP, window, step)
            return [("death", verdict, "warning")]
        return []

    def _rise(self, st: Stream, step: int, v: float) -> list[tuple[str, Verdict, str]]:
        """A training loss (a mean over many steps) whose means over the last RISE_SPAN steps and
        over the RISE_SPAN before are both LOSS_RISE-fold its low over LOSS_LOW_STEPS before."""
        if not self.warmup.done(st.history, step):
            return []
        steps, vals = st.history.finite_between(step - LOSS_LOW_STEPS - 2 * RISE_SPAN, step)
        steps, vals = [*steps, step], [*vals, v]

        def span_mean(end: int) -> float:
            xs = [x for s, x in zip(steps, vals, strict=True) if end - RISE_SPAN < s <= end]
            return sum(xs) / len(xs) if xs else math.nan

        now, before = span_mean(step), span_mean(step - RISE_SPAN)
        lows = [
            (span_mean(s), s) for s in steps if step - LOSS_LOW_STEPS <= s <= step - 2 * RISE_SPAN
        ]
        if len(lows) < 2 or not math.isfinite(before):
            return []
        low, low_step = min(lows)
        if low <= 0 or min(now, before) < LOSS_RISE * low or now - low < LOSS_RISE_MIN * st.peak:
            return []
        window = (low_step, step)
        verdict = Verdict("rise", low, 0.0, LOSS_RISE * low, window, step - RISE_SPAN, level=now)
        return [("rise", verdict, "warning")]

    def _still(
        self, st: Stream, step: int, v: float, held: bool, lr_steady: bool
    ) -> list[tuple[str, Verdict, str]]:
        """A layer that stopped learning: its change per step far under its usual change over
        gaps of a similar length (or under STILL_RATIO_STEADY_LR of it while the learning rate
        holds), for STILL_STEPS steps and two frames at least."""
        last = st.history.last_step
        if last is None or step <= last:
            return []
        gap = step - last
        rate = v / gap
        if st.rates is None:
            st.rates = History(st.history.keep_steps)
        ref = self.reference
        steps, rates = st.rates.finite_between(step - ref.lag - ref.window, step - ref.lag)
        similar = [
            (s, r)
            for s, r in zip(steps, rates, strict=True)
            if gap / STILL_GAP_FACTOR <= st.gaps.get(s, 0) <= gap * STILL_GAP_FACTOR
        ]
        st.rates.add(step, rate)
        st.gaps[step] = gap
        for old in [s for s in st.gaps if s < step - st.history.keep_steps]:
            del st.gaps[old]
        if held or not self.warmup.done(st.history, step) or len(similar) < 3:
            st.still_since, st.still_frames = None, 0
            return []
        usual = median([r for _, r in similar])
        ratio = STILL_RATIO_STEADY_LR if lr_steady else STILL_RATIO
        if not (usual > 0 and rate <= ratio * usual):
            st.still_since, st.still_frames = None, 0
            return []
        if st.still_since is None:
            st.still_since = last  # still since the previous frame
        st.still_frames += 1
        if step - st.still_since < STILL_STEPS or st.still_frames < 2:
            return []
        window = (similar[0][0], similar[-1][0])
        verdict = Verdict("frozen", usual, 0.0, ratio * usual, window, st.still_since)
        return [("stopped", verdict, "warning")]
