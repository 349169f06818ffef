"""The :class:`Alert` type: what every rule raises and every consumer reads."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Alert"]


@dataclass(frozen=True)
class Alert:
    """One alert: at ``step``, on ``layer`` (``None`` for run scalars), about ``metric``.

    ``evidence``: ``steps`` and ``values`` (the metric's recent history up to this step),
    ``reference`` and ``spread`` (the level it was compared with and that level's usual
    variation), ``threshold`` (the level whose crossing fired the rule), ``window`` (first and
    last step of the reference), ``direction`` (+1: up is bad, -1: down is bad), ``kind``,
    ``since`` (first step of the departure), ``z`` (the departure in spreads, when defined).
    """

    step: int
    layer: str | None
    metric: str
    message: str
    severity: str  # "info" | "warning" | "critical"
    rule: str = ""
    value: float = float("nan")
    evidence: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON-compatible form (non-finite numbers become ``None``)."""
        d = asdict(self)
        return _json_safe(d)  # type: ignore[no-any-return]


def _json_safe(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _json_safe(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_json_safe(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o
