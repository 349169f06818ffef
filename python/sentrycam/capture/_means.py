"""Run scalars averaged between captures.

``Monitor.step(step, loss=...)`` is called on every training step, but a capture happens every
``every`` steps. One batch's loss is a noisy reading of how training goes; the mean of the batch
losses since the last capture is a far steadier one (its noise falls with the square root of the
steps averaged), and no step's value is thrown away. So the scalars given between captures are
summed here, and the capture carries their mean and how many steps it covers.

This runs on every training step: numbers are added in place; a tensor is kept (detached, so it
holds no autograd graph) and read only when the capture is made, so a GPU loss is not synced on
every step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ScalarMeans"]

#: Tensors kept per name before they are read and summed (a sync): a run whose captures keep
#: failing must not hold ever more of them.
MAX_PENDING_TENSORS = 1024


class ScalarMeans:
    """Sums of the scalars given since the last capture, by name."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._tensors: dict[str, list[Any]] = {}

    def add(self, scalars: Mapping[str, Any]) -> None:
        """One step's scalars (a step between captures). What is not a number is left for the
        capture to report, if it is given there too."""
        for key, value in scalars.items():
            kind = type(value)
            if kind is float or kind is int:
                self._sums[key] = self._sums.get(key, 0.0) + value
                self._counts[key] = self._counts.get(key, 0) + 1
            elif hasattr(value, "detach"):  # a tensor: read at the capture, not now
                pending = self._tensors.setdefault(key, [])
                pending.append(value.detach())
                if len(pending) >= MAX_PENDING_TENSORS:
                    self._fold(key, pending)
            else:
                try:
                    number = float(value)  # a numpy scalar
                except (TypeError, ValueError):
                    continue
                self._sums[key] = self._sums.get(key, 0.0) + number
                self._counts[key] = self._counts.get(key, 0) + 1

    def _fold(self, key: str, pending: list[Any]) -> None:
        """Read the kept tensors of ``key`` into its sum (those that are not one number are
        dropped: the capture reports such a value when it is given there)."""
        for t in pending:
            try:
                number = float(t.item())
            except (TypeError, ValueError, RuntimeError):
                continue
            self._sums[key] = self._sums.get(key, 0.0) + number
            self._counts[key] = self._counts.get(key, 0) + 1
        pending.clear()

    def take(self, scalars: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        """The capture step's ``scalars`` joined with those summed since the last capture: each
        name's mean over the steps that gave it, and that number of steps. Starts a new sum.
        A capture value that is not a number is passed on as given (the capture reports it)."""
        for key, pending in self._tensors.items():
            self._fold(key, pending)
        sums, counts = self._sums, self._counts
        self._sums, self._counts, self._tensors = {}, {}, {}
        if not counts:
            return dict(scalars), dict.fromkeys(scalars, 1)
        means: dict[str, Any] = {}
        steps: dict[str, int] = {}
        for key, value in scalars.items():
            try:
                number = float(value.item() if hasattr(value, "item") else value)
            except (TypeError, ValueError, RuntimeError):
                means[key], steps[key] = value, 1
                continue
            total, count = sums.pop(key, 0.0) + number, counts.pop(key, 0) + 1
            means[key], steps[key] = total / count, count
        for key, count in counts.items():  # given between captures, not at this one
            means[key], steps[key] = sums[key] / count, count
        return means, steps
