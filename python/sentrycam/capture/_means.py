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
        """One step's scalars."""
        for key, value in scalars.items():
            try:
                if hasattr(value, "detach"):  # a tensor: summed where it lives, read later
                    if value.numel() != 1:
                        continue  # not a scalar: the capture reports it when given there
                    total = value.detach().reshape(()).float()
                    pending = self._tensor_sums.get(key)
                    # a copy to start from: .float() of a float32 tensor is the tensor itself
                    self._tensor_sums[key] = total.clone() if pending is None else pending + total
                    self._tensor_counts[key] = self._tensor_counts.get(key, 0) + 1
                else:
                    number = float(value)  # a number, a numpy scalar, a bool
                    self._sums[key] = self._sums.get(key, 0.0) + number
                    self._counts[key] = self._counts.get(key, 0) + 1
            except Exception:  # a bad scalar must not stop training
                continue

    def clear(self) -> None:
        """Forget what was summed (another rank reports the scalars)."""
        self._sums, self._counts = {}, {}
        self._tensor_sums, self._tensor_counts = {}, {}

    def take(self) -> tuple[dict[str, float], dict[str, int]]:
        """Each name's mean over the steps that gave it since the last ``take``, and that number
        of steps; starts a new sum."""
        sums, counts = self._sums, self._counts
        for key, total in self._tensor_sums.items():
            try:
                number = float(total.item())
            except Exception:  # a tensor that cannot be read is skipped
                continue
            sums[key] = sums.get(key, 0.0) + number
            counts[key] = counts.get(key, 0) + self._tensor_counts[key]
        self.clear()
        return {key: sums[key] / count for key, count in counts.items()}, counts
