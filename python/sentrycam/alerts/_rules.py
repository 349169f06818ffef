"""Trigger rules over one metric stream, with windows measured in training steps.

A rule sees the stream's history before the current value (:class:`History`, steps and values)
and the current ``(step, value)``, and returns a :class:`Verdict` when it fires. Every window,
warm-up and persistence requirement is counted in *steps*, so the same run captured every 5
steps, every 50, or at a cadence stretched by a budget gives the same alerts (up to the capture
grid). A warm-up also needs a few frames, because a robust spread needs points.

``RobustChangeRule`` (the default): the reference is the stream's values in a window of
``window`` steps ending ``lag`` steps back (the lag keeps a drift from becoming its own
baseline at once). Its level is their median, moved along the window's trend (Theil-Sen) when
that trend already goes the wrong way, so a healthy wrong-way trend (norms growing early in
training) is the baseline, not a change (``follow_trend=False``: never, the engine's choice for
training losses); a right-way trend is not extrapolated, so a healthy
curve that flattens is no alarm. The spread is the median absolute deviation of the window's
values around that trend. The rule fires on a jump (``z >= z_jump``) or when the mean of ``z``
over the last ``sustain_steps`` (two frames at least) reaches ``z_sustain``: a departure that
lasts.

``SentryCamRule`` (opt-in baseline): the research system's rule as published, in frames.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "BATCH_SCALAR_MIN_POINTS",
    "FULL_REFERENCE",
    "LAYER_MIN_POINTS",
    "REFERENCE_POINTS",
    "History",
    "RobustChangeRule",
    "SentryCamRule",
    "StreamRule",
    "Verdict",
    "Warmup",
    "mad_spread",
    "make_rule",
    "median",
]

#: Frames a reference wants (reaching further back than its window when the cadence is sparse):
#: a spread measured on fewer is too often far too small ...
FULL_REFERENCE = 20
#: ... and the frames it needs at least, its spread then widened (by sqrt(FULL_REFERENCE / n), and
#: to the residuals' standard deviation at least).
#: Layer metrics are measured on a fixed probe, so a few frames tell their level: six frames let
#: an every=50 run judge from step 350 (20 made that step 1,050, and a failure before it became
#: the baseline). Training-batch scalars (one batch's loss) are far noisier: they wait for 20.
LAYER_MIN_POINTS = 6
BATCH_SCALAR_MIN_POINTS = FULL_REFERENCE
#: A reference window denser than this is thinned evenly (Theil-Sen is quadratic in points).
REFERENCE_POINTS = 40
#: Frames of history kept per stream for evidence (the rules keep what their windows need).
EVIDENCE_POINTS = 48
_MAD_TO_SD = 1.4826  # the MAD of a normal sample times this estimates its standard deviation


@dataclass(frozen=True)
class Verdict:
    """Why a rule fired: the level compared with, its spread and the threshold crossed."""

    kind: str  # jump, sustained, frozen, explosion, death, rise, nonfinite, sentrycam
    reference: float
    spread: float
    threshold: float
    window: tuple[int, int] | None = None  # steps of the reference window
    since: int | None = None  # first step of the run of frames past the threshold
    z: float = math.nan
    level: float | None = None  # the level judged when not the latest value (a sustained mean)


class History:
    """A stream's recent ``(step, value)`` pairs, bounded in steps (and frames for evidence)."""

    def __init__(self, keep_steps: int, keep_frames: int = EVIDENCE_POINTS) -> None:
        self.keep_steps, self.keep_frames = keep_steps, keep_frames
        self.steps: deque[int] = deque()
        self.values: deque[float] = deque()
        self.first_step: int | None = None
        self.frames = 0

    def add(self, step: int, value: float) -> None:
        """Append one value (non-finite values are kept: evidence shows them; the warm-up counts
        finite ones only, so a stream that starts undefined has no history yet)."""
        if math.isfinite(value):
            if self.first_step is None:
                self.first_step = step
            self.frames += 1
        self.steps.append(step)
        self.values.append(value)
        while len(self.steps) > self.keep_frames and self.steps[0] < step - self.keep_steps:
            self.steps.popleft()
            self.values.popleft()

    def reset(self) -> None:
        """Forget everything (the run restarted: steps went backwards)."""
        self.steps.clear()
        self.values.clear()
        self.first_step, self.frames = None, 0

    @property
    def last_step(self) -> int | None:
        return self.steps[-1] if self.steps else None

    def finite_between(self, lo: int, hi: int) -> tuple[list[int], list[float]]:
        """Finite values with ``lo < step <= hi``."""
        pairs = [
            (s, v)
            for s, v in zip(self.steps, self.values, strict=True)
            if lo < s <= hi and math.isfinite(v)
        ]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def reference(self, end: int, window: int, min_points: int) -> tuple[list[int], list[float]]:
        """Finite values in the ``window`` steps ending at ``end``; at least ``min_points``
        (reaching further back) when the cadence is sparse; empty when there are not enough."""
        steps, vals = self.finite_between(end - window, end)
        if len(vals) < min_points:
            all_s, all_v = self.finite_between(-(2**62), end)
            steps, vals = all_s[-min_points:], all_v[-min_points:]
        if len(vals) < min_points:
            return [], []
        if len(vals) > REFERENCE_POINTS:
            pick = np.linspace(0, len(vals) - 1, REFERENCE_POINTS).round().astype(int)
            steps, vals = [steps[i] for i in pick], [vals[i] for i in pick]
        return steps, vals


@dataclass(frozen=True)
class Warmup:
    """No rule fires before ``steps`` steps and ``frames`` frames of a stream's history."""

    steps: int = 150
    frames: int = 6

    def done(self, hist: History, step: int) -> bool:
        first = hist.first_step
        return first is not None and step - first >= self.steps and hist.frames >= self.frames


class StreamRule(Protocol):
    """A trigger rule over one stream; ``check`` is called before the value joins ``hist``."""

    name: str

    def check(self, hist: History, step: int, value: float) -> Verdict | None: ...


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return math.nan
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


_PAIRS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def mad_spread(xs: list[float], centre: float) -> float:
    """The median absolute deviation of ``xs`` around ``centre``, scaled to a standard deviation."""
    return _MAD_TO_SD * median([abs(x - centre) for x in xs])


def theil_sen(steps: list[int], vals: list[float]) -> float:
    """Median of pairwise slopes (robust to a few outlying frames)."""
    t = np.asarray(steps, dtype=np.float64)
    v = np.asarray(vals, dtype=np.float64)
    pairs = _PAIRS.get(len(t))
    if pairs is None:
        pairs = _PAIRS[len(t)] = np.triu_indices(len(t), 1)
    i, j = pairs
    dt = t[j] - t[i]
    ok = dt > 0
    if not ok.any():
        return 0.0
    return float(np.median((v[j] - v[i])[ok] / dt[ok]))


class RobustChangeRule:
    """A robust level test against a lagged, trend-aware reference window (see module doc)."""

    name = "robust"

    def __init__(
        self,
        direction: int,
        *,
        window: int = 200,
        lag: int = 50,
        warmup: Warmup | None = None,
        min_points: int = LAYER_MIN_POINTS,
        z_jump: float = 8.0,
        z_sustain: float = 5.0,
        sustain_steps: int = 40,
        rel_floor: float = 1e-3,
        abs_floor: float = 0.0,
        min_effect: float = 0.0,
        confirm: int = 0,  # > 0: a jump must still hold (half of it) at the next value
        peak_floor: float = 0.0,
        follow_trend: bool = True,
    ) -> None:
        self.direction = direction or 1
        self.follow_trend = follow_trend
        self.window, self.lag, self.min_points = window, lag, min_points
        self.warmup = warmup or Warmup()
        self.z_jump, self.z_sustain, self.sustain_steps = z_jump, z_sustain, sustain_steps
        self.rel_floor, self.abs_floor, self.confirm = rel_floor, abs_floor, confirm
        self.min_effect = min_effect
        #: the spread is never under this share of the largest |value| seen (0: no such floor)
        self.peak_floor, self.peak = peak_floor, 0.0
        self.zs: deque[tuple[int, float, float]] = deque()  # (step, z, value), sustain_steps
        self.pending: Verdict | None = None  # a scalar jump waiting for confirmation

    def baseline(self, hist: History, step: int) -> Verdict | None:
        """The reference level at ``step``, its spread and window (None: no history yet)."""
        ref_end = step - self.lag
        steps, vals = hist.reference(ref_end, self.window, self.min_points)
        if not vals:
            return None
        slope = theil_sen(steps, vals)
        t_mid, v_mid = median([float(s) for s in steps]), median(vals)
        resid = [v - v_mid - slope * (s - t_mid) for s, v in zip(steps, vals, strict=True)]
        mad = mad_spread(resid, median(resid))
        level = median([abs(v) for v in vals])
        if len(vals) < FULL_REFERENCE:  # the MAD of a few frames is too often near 0
            n = len(vals)
            sd = math.sqrt(sum(r * r for r in resid) / max(n - 2, 1))  # two fitted parameters
            mad = max(math.sqrt(FULL_REFERENCE / n) * mad, sd)
        floors = (self.rel_floor * level, self.abs_floor, self.peak_floor * self.peak)
        spread = max(mad, *floors, 1e-12)
        wrong_way = self.direction * max(self.direction * slope, 0.0) if self.follow_trend else 0.0
        ref = v_mid + wrong_way * (step - t_mid)
        return Verdict("", ref, spread, math.nan, (steps[0], steps[-1]))

    def check(self, hist: History, step: int, value: float) -> Verdict | None:
        if not math.isfinite(value):
            return None
        if self.peak_floor:
            self.peak = max(self.peak, abs(value))
        if not self.warmup.done(hist, step):
            return None
        base = self.baseline(hist, step)
        if base is None:
            return None
        d, ref, sd = self.direction, base.reference, base.spread
        z = d * (value - ref) / sd
        if d * (value - ref) < self.min_effect * abs(ref):
            z = min(z, 0.0)  # too small a change to matter, however steady the stream was
        if self.pending is not None:
            p, self.pending = self.pending, None
            if d * (value - p.reference) / p.spread >= 0.5 * self.z_jump:
                return p
        self.zs.append((step, z, value))
        while len(self.zs) > 2 and self.zs[1][0] <= step - self.sustain_steps:
            self.zs.popleft()  # keep the last sustain_steps of z, and at least two frames
        if z >= self.z_jump:
            jump = Verdict("jump", ref, sd, ref + d * self.z_jump * sd, base.window, step, z)
            if self.confirm <= 0:
                return jump
            self.pending = jump
            return None
        if len(self.zs) >= 2:
            mean_z = sum(min(zz, self.z_jump) for _, zz, _ in self.zs) / len(self.zs)
            if mean_z >= self.z_sustain:
                past = [s for s, zz, _ in self.zs if zz >= self.z_sustain]
                since = past[0] if past else self.zs[0][0]
                for s, zz, _ in reversed(self.zs):  # the start of the trailing run past it
                    if zz < self.z_sustain:
                        break
                    since = s
                level = sum(v for _, _, v in self.zs) / len(self.zs)
                threshold = ref + d * self.z_sustain * sd
                return Verdict("sustained", ref, sd, threshold, base.window, since, mean_z, level)
        return None


class SentryCamRule:
    """SentryCam's trigger, as published (in frames): after a ``burn_in``, ``moves`` wrong-way
    moves in a row, the last one larger than ``factor`` x the std of the previous ``window``."""

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

    def check(self, hist: History, step: int, value: float) -> Verdict | None:
        if not math.isfinite(value):
            return None
        _, vals = hist.finite_between(-(2**62), step)
        vals = vals[-max(self.window, self.moves) :]
        if hist.frames < self.burn_in or len(vals) < max(self.moves, 2):
            return None
        seq = [*vals[-self.moves :], value]
        moves = np.diff(seq) * self.direction
        if not (moves > 0).all():
            return None
        sd = float(np.std(vals[-self.window :]))
        if moves[-1] <= self.factor * sd:
            return None
        prev = seq[-2]
        return Verdict("sentrycam", prev, sd, prev + self.direction * self.factor * sd)


def make_rule(name: str, direction: int, **params: float) -> StreamRule:
    """A fresh rule instance by name (``"robust"`` or ``"sentrycam"``)."""
    if name == "robust":
        return RobustChangeRule(direction, **params)  # type: ignore[arg-type]
    if name == "sentrycam":
        return SentryCamRule(direction, **params)  # type: ignore[arg-type]
    raise ValueError(f"unknown rule {name!r}")
