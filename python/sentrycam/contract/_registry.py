"""The metric registry: every fact about a metric and a severity, read from ``registry.json``.

That file is the one place these facts are written; the TypeScript bundle imports the same file
(``src/registry.ts``). Each metric has a name, its meaning in words, how an alert names it, the
direction that is bad (``+1`` up, ``-1`` down, ``0`` not trend-watched), its scale floor and
minimum effect for the alert rules, the words of an alert message, its chart panel and line, and
whether it needs labels. Adding a metric is one entry there (and its computation in
:mod:`sentrycam.metrics`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "GROUP_METRICS",
    "GROUP_METRIC_SPECS",
    "GROUP_SEP",
    "KNN_K",
    "METRICS",
    "METRIC_KEYS",
    "NOTIFY_SEVERITIES",
    "OUTPUT_METRICS",
    "SEVERITIES",
    "SEVERITY_RANK",
    "GroupMetricSpec",
    "MetricSpec",
    "registry",
]

_BAD = {"up": +1, "down": -1, None: 0}


@dataclass(frozen=True)
class MetricSpec:
    """One per-layer metric, as ``registry.json`` declares it."""

    name: str
    meaning: str
    noun: str
    direction: int  # +1: going up is bad; -1: going down is bad; 0: not trend-watched
    floor: float | None  # smallest meaningful change (the rules never standardise by less)
    min_effect: float | None  # smallest wrong-way change worth an alert, share of its level
    change: str  # what a wrong-way move means, for alert messages
    causes: str  # its usual causes, for alert messages
    style: str  # how a change is told: "relative" (45%), "percent" (to 6%), "level" (to 0.970)
    needs_labels: bool
    panel: str | None  # the chart panel it is drawn in (None: not charted)
    line: str | None  # its line's name in that panel


@dataclass(frozen=True)
class GroupMetricSpec:
    """One per-group metric (sent as ``f"{name}{GROUP_SEP}{group}"``)."""

    name: str
    meaning: str
    needs_labels: bool
    panel: str | None


def registry() -> dict[str, Any]:
    """The registry file as parsed JSON (a fresh copy)."""
    return json.loads((Path(__file__).parent / "registry.json").read_text(encoding="utf-8"))


def _metric(entry: dict[str, Any], knn_k: int) -> MetricSpec:
    line = entry.get("line")
    return MetricSpec(
        name=entry["name"],
        meaning=entry["meaning"],
        noun=entry["noun"],
        direction=_BAD[entry["bad"]],
        floor=entry["floor"],
        min_effect=entry["min_effect"],
        change=entry.get("change", ""),
        causes=entry.get("causes", ""),
        style=entry.get("style", "relative"),
        needs_labels=entry["needs_labels"],
        panel=entry["panel"],
        line=None if line is None else line.replace("{knn_k}", str(knn_k)),
    )


_REGISTRY = registry()
#: Neighbours in ``knn_jaccard_prev``.
KNN_K: int = _REGISTRY["knn_k"]
#: Every per-layer metric, in the order frames carry them.
METRICS: dict[str, MetricSpec] = {e["name"]: _metric(e, KNN_K) for e in _REGISTRY["metrics"]}
METRIC_KEYS: tuple[str, ...] = tuple(METRICS)
#: Streams of the model's own output (its logits), sent as run scalars of each capture.
OUTPUT_METRICS: dict[str, MetricSpec] = {e["name"]: _metric(e, KNN_K) for e in _REGISTRY["outputs"]}
GROUP_METRIC_SPECS: dict[str, GroupMetricSpec] = {
    e["name"]: GroupMetricSpec(e["name"], e["meaning"], e["needs_labels"], e["panel"])
    for e in _REGISTRY["group_metrics"]
}
#: The per-group metrics, each sent as ``f"{metric}@{group}"`` for every group in a frame.
GROUP_METRICS: tuple[str, ...] = tuple(GROUP_METRIC_SPECS)
GROUP_SEP: str = _REGISTRY["group_separator"]
#: Severities from the least to the most severe.
SEVERITIES: tuple[str, ...] = tuple(_REGISTRY["severities"])
#: A severity's rank: info < warning < critical.
SEVERITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}
#: Severities worth interrupting someone for (a notification, ``--fail-on``'s default scale).
NOTIFY_SEVERITIES: tuple[str, ...] = SEVERITIES[SEVERITY_RANK[_REGISTRY["notify_from"]] :]
