"""One incident, one alert: alerts raised close together are told once.

A failure rarely moves one number: a learning-rate spike shakes every layer's rank, spread and
neighbourhoods within a few frames, and a trend rule may notice 40 steps after a hard rule what the
hard rule already told. An *incident* starts with the first alert after a quiet spell and lasts
while any rule keeps firing (:meth:`Incidents.active`); it ends after ``gap`` quiet steps (the
engine's ``rearm_steps``, the same quiet spell that re-arms a rule). Every alert raised while it
lasts joins it instead of being raised: it is listed under the incident's first alert
(``evidence["incident"]["also"]``: step, layer, metric, rule), and that alert is marked as updated
so the views can show what joined. An alert worse than any in the incident so far is raised (a
warning that became critical is news, and so is a run that went non-finite), and heads the incident
from then on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..contract import SEVERITY_RANK
from ._alert import Alert

__all__ = ["INCIDENT_GAP", "MAX_ALSO", "Incidents"]

#: Quiet steps (no rule firing) that end an incident, unless told otherwise.
INCIDENT_GAP = 300
#: Alerts listed under an incident's first alert, at most (the count goes on).
MAX_ALSO = 32


@dataclass
class _Incident:
    head: Alert  # the alert that tells it (the most severe so far, the first of those)
    rank: int
    first_step: int
    last_step: int
    members: list[Alert] = field(default_factory=list)


class Incidents:
    """Filters an engine's alerts into incidents (see the module doc)."""

    def __init__(self, gap: int = INCIDENT_GAP) -> None:
        self.gap = gap
        self.current: _Incident | None = None
        self._updated: list[Alert] = []

    def active(self, step: int) -> None:
        """A rule fired at ``step`` (raised or not): the open incident goes on."""
        if self.current is not None:
            self.current.last_step = max(self.current.last_step, step)

    def reset(self) -> None:
        """Steps went backwards (a new run): no incident is open."""
        self.current = None

    def admit(self, alerts: list[Alert]) -> list[Alert]:
        """The alerts to raise among ``alerts`` (in order); the rest join the open incident."""
        raised: list[Alert] = []
        for alert in alerts:
            inc = self.current
            rank = _rank(alert)
            late = inc is not None and alert.step - inc.last_step > self.gap
            if inc is None or late or alert.step < inc.first_step:  # (earlier: a new run)
                self.current = _Incident(alert, rank, alert.step, alert.step, [alert])
                _open(alert, alert.step)
                raised.append(alert)
                continue
            inc.last_step = max(inc.last_step, alert.step)
            inc.members.append(alert)
            if rank > inc.rank:  # it got worse: that is news, and it tells the incident now
                _open(alert, int(inc.head.evidence["incident"]["first_step"]))
                inc.head, inc.rank = alert, rank
                raised.append(alert)
                continue
            told = inc.head.evidence["incident"]
            told["joined"] += 1
            if len(told["also"]) < MAX_ALSO:
                told["also"].append(_summary(alert))
            if inc.head not in self._updated:
                self._updated.append(inc.head)
        return raised

    def take_updated(self) -> list[Alert]:
        """Alerts raised earlier whose incident has grown since the last call."""
        updated, self._updated = self._updated, []
        return updated


def _rank(alert: Alert) -> int:
    """How bad an alert is: by severity, and a run gone non-finite above everything."""
    return SEVERITY_RANK.get(alert.severity, 0) + (
        len(SEVERITY_RANK) if alert.rule == "nonfinite" else 0
    )


def _open(alert: Alert, first_step: int) -> None:
    alert.evidence["incident"] = {"first_step": first_step, "joined": 0, "also": []}


def _summary(alert: Alert) -> dict[str, Any]:
    return {
        "step": alert.step,
        "layer": alert.layer,
        "metric": alert.metric,
        "rule": alert.rule,
        "severity": alert.severity,
    }
