"""Run scalars averaged between captures.

``Monitor.step(step, loss=...)`` is called on every training step, but a capture happens every
``every`` steps. One batch's loss is a noisy reading of how training goes; the mean of the batch
losses since the last capture is a far steadier one (its noise falls with the square root of the
steps averaged), and no step's value is thrown away. So the scalars given between captures are
summed here, and the capture carries their mean and how many steps it covers.

This runs on every training step: a number is added in place; a one-element tensor is added to a
running sum on its own device (no sync, and a tensor the caller later updates in place is read as
it was), read once when the capture is made. Nothing here may stop training: a value that cannot
be summed is skipped (and reported by the capture if it is given there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ScalarMeans"]


class ScalarMeans:
    """Sums of the scalars given since the last capture, by name."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._tensor_sums: dict[str, Any] = {}  # one-element tensors, summed on their device
        self._tensor_counts: dict[str, int] = {}

    def add(self, scalars: Mapping[str, Any]) -> None:
        """One step's scalars (a step between captures)."""
        for key, value in scalars.items():
            try:
                kind = type(value)
                if kind is float or kind is int:
                    self._sums[key] = self._sums.get(key, 0.0) + value
                    self._counts[key] = self._counts.get(key, 0) + 1
                elif hasattr(value, "detach"):  # a tensor: summed where it lives, read later
                    if value.numel() != 1:
                        continue  # not a scalar: the capture reports it when given there
                    total = value.detach().reshape(()).float()
                    pending = self._tensor_sums.get(key)
                    # a copy to start from: .float() of a float32 tensor is the tensor itself
                    self._tensor_sums[key] = total.clone() if pending is None else pending + total
                    self._tensor_counts[key] = self._tensor_counts.get(key, 0) + 1
                else:
                    number = float(value)  # a numpy scalar, a bool
                    self._sums[key] = self._sums.get(key, 0.0) + number
                    self._counts[key] = self._counts.get(key, 0) + 1
            except Exception:  # a bad scalar must not stop training
                continue

    def clear(self) -> None:
        """Forget what was summed (another rank reports the scalars)."""
        self._sums, self._counts = {}, {}
        self._tensor_sums, self._tensor_counts = {}, {}

    def take(self, scalars: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        """The capture step's ``scalars`` joined with those summed since the last capture: each
        name's mean over the steps that gave it, and that number of steps. Starts a new sum.
        A capture value that is not a number is passed on as given (the capture reports it)."""
        sums, counts = self._sums, self._counts
        for key, total in self._tensor_sums.items():
            try:
                number = float(total.item())
            except Exception:  # a tensor that cannot be read is skipped
                continue
            sums[key] = sums.get(key, 0.0) + number
            counts[key] = counts.get(key, 0) + self._tensor_counts[key]
        self.clear()
        if not counts:
            return dict(scalars), dict.fromkeys(scalars, 1)
        means: dict[str, Any] = {}
        steps: dict[str, int] = {}
        for key, value in scalars.items():
            try:
                number = float(value.item() if hasattr(value, "item") else value)
            except Exception:  # passed on: the capture reports it
                means[key], steps[key] = value, 1
                continue
            total, count = sums.pop(key, 0.0) + number, counts.pop(key, 0) + 1
            means[key], steps[key] = total / count, count
        for key, count in counts.items():  # given between captures, not at this one
            means[key], steps[key] = sums[key] / count, count
        return means, steps
