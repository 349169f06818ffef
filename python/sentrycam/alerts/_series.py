"""One rule applied to one series: for benchmarks and comparisons with other detectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._engine import AlertEngine

__all__ = ["alert_steps"]


def alert_steps(
    values: Sequence[float],
    steps: Sequence[int] | None = None,
    *,
    rule: str = "robust",
    direction: int = 1,
    start: int | None = None,
    **params: Any,
) -> list[int]:
    """Steps at which ``rule`` raises an alert episode on one series (de-duplicated).

    ``direction``: +1 if going up is bad, -1 if going down is bad. ``params``: the rule's
    keyword arguments (for ``"robust"``, ``confirm`` defaults to 0: the bare rule).
    ``steps`` default to 10, 20, 30, ... (a capture every 10 steps).
    ``start``: only episodes that begin at or after this step are returned (all by default).
    """
    steps = [10 * i for i in range(len(values))] if steps is None else list(steps)
    if rule == "robust":
        params.setdefault("confirm", 0)  # the bare rule: jumps fire at once
    eng = AlertEngine(rules=(rule,), hard=False, directions={"s": direction}, params={rule: params})
    out = []
    for s, v in zip(steps, values, strict=True):
        for a in eng.update(int(s), None, {"s": float(v)}):
            if start is None or a.step >= start:
                out.append(a.step)
    return out
