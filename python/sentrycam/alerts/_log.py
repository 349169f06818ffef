"""The one place a monitor's alerts are kept, bounded."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator

from ._alert import Alert

__all__ = ["MAX_ALERTS", "AlertLog"]

#: Alerts a monitor keeps (the oldest go first). Rules raise one alert per episode, so a run
#: that reaches this is failing in a way its first alerts already tell; memory stays bounded.
MAX_ALERTS = 10_000


class AlertLog:
    """Every alert raised so far, oldest first, at most ``limit`` of them; written by the
    background thread, read by the training thread."""

    def __init__(self, limit: int = MAX_ALERTS) -> None:
        self._alerts: deque[Alert] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self.dropped = 0  # the oldest alerts that made way for newer ones

    def extend(self, alerts: Iterable[Alert]) -> None:
        """Keep ``alerts`` (dropping the oldest beyond the limit)."""
        with self._lock:
            for alert in alerts:
                if len(self._alerts) == self._alerts.maxlen:
                    self.dropped += 1
                self._alerts.append(alert)

    def list(self) -> list[Alert]:
        """A copy of the alerts kept, oldest first."""
        with self._lock:
            return list(self._alerts)

    def __len__(self) -> int:
        return len(self._alerts)

    def __iter__(self) -> Iterator[Alert]:
        return iter(self.list())
