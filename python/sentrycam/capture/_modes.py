"""How the probe runs the model: every module in eval mode (``probe_mode="eval"``, the default), or
with normalisation layers on the probe's batch statistics (``probe_mode="train"``).

In ``"train"`` mode dropout stays off, and the buffers of the normalisation layers (running means,
variances, batch counters), which a forward pass in training mode updates, are copied before the
pass and written back after it: the model trains on exactly as before. ``SyncBatchNorm`` stays in
eval mode (in training mode it would wait for every rank, which a probe on one rank never joins).

In eval mode a normalisation layer uses its running averages. When those lag the weights (a small
BatchNorm momentum, such as MobileNetV3's 0.01, in a fast-changing network) the probe sees a
network that is not the one training; :func:`gap` measures how far the two disagree.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

__all__ = [
    "ACCURACY_GAP_LIMIT",
    "GAP_LIMIT",
    "PROBE_MODES",
    "ProbeModes",
    "gap",
    "gap_message",
]

PROBE_MODES = ("eval", "train")
#: Told once when, on the probe, accuracy in eval mode and with batch statistics differ by this
#: much (a model whose output gives predictions, with labels) ...
ACCURACY_GAP_LIMIT = 0.2
#: ... or, without them, when a watched layer's rows differ by this much (relative L2,
#: ||eval - batch|| / ||batch||). Measured while training library models on digits (SGD 0.05):
#: MobileNetV3 (momentum 0.01) was right on 16% of the probe in eval mode against 71% with batch
#: statistics at step 100, 37% against 88% at step 150, 62% against 91% at step 200, its layers
#: 0.6-1.4 apart; EfficientNet-B0 and ResNet (momentum 0.1) agreed within 3 points of accuracy
#: from step 50, their layers 0.05-0.7 apart (0.5 at most after step 100).
GAP_LIMIT = 0.75
#: Batches a normalisation layer must have tracked, in units of 1 / momentum, before the check:
#: running averages start at (0, 1), and every network disagrees with itself until they have
#: mostly forgotten that start.
SETTLED_MOMENTA = 1.0


def _uses_running_stats(module: Any) -> bool:
    """A normalisation layer that keeps running statistics (BatchNorm, InstanceNorm with
    ``track_running_stats``, and library subclasses such as timm's ``BatchNormAct2d``)."""
    return (
        getattr(module, "track_running_stats", False) is True
        and getattr(module, "running_mean", None) is not None
        and type(module).__name__ != "SyncBatchNorm"
    )


class ProbeModes:
    """Puts a model into the probe's mode for one pass and back."""

    def __init__(self, model: Any, inner: Any, mode: str = "eval") -> None:
        if mode not in PROBE_MODES:
            raise ValueError(f"probe_mode must be one of {PROBE_MODES}, got {mode!r}")
        self.model = model
        self.mode = mode
        self.norms = [m for m in inner.modules() if _uses_running_stats(m)]

    def settled(self) -> bool:
        """Whether every normalisation layer's running averages have forgotten their start."""
        for norm in self.norms:
            tracked = getattr(norm, "num_batches_tracked", None)
            momentum = norm.momentum or 0.1  # None: a cumulative average
            if tracked is None or float(tracked) < SETTLED_MOMENTA / momentum:
                return False
        return bool(self.norms)

    def momenta(self) -> list[float]:
        """The normalisation layers' momenta (cumulative averages left out)."""
        return [float(norm.momentum) for norm in self.norms if norm.momentum]

    @contextlib.contextmanager
    def applied(self, mode: str | None = None) -> Iterator[None]:
        """Every module in eval mode; in ``"train"`` mode the normalisation layers in training
        mode with their buffers saved. Modes (per module: a user may freeze one BatchNorm) and
        buffers are restored on the way out, whatever happens."""
        import torch

        mode = mode or self.mode
        modes = [(module, module.training) for module in self.model.modules()]
        saved: list[tuple[Any, Any]] = []
        try:
            self.model.eval()
            if mode == "train":
                for norm in self.norms:
                    saved.extend((b, b.detach().clone()) for b in norm.buffers(recurse=False))
                    norm.train()
            yield
        finally:
            for module, training in modes:
                module.training = training
            with torch.no_grad():
                for buffer, value in saved:
                    buffer.copy_(value)


def gap(eval_rows: Any, batch_rows: Any) -> float:
    """How far eval-mode rows are from batch-statistics rows: ||a - b|| / ||b|| (0: identical)."""
    a, b = eval_rows.double(), batch_rows.double()
    scale = float(b.norm())
    if not math.isfinite(scale) or scale == 0.0:
        return 0.0
    value = float((a - b).norm()) / scale
    return value if math.isfinite(value) else 0.0


def gap_message(what: str, momenta: list[float]) -> str:
    """The problem told once when eval mode and batch statistics disagree (``what``: how)."""
    slow = f" (BatchNorm momentum as low as {min(momenta):g})" if momenta else ""
    return (
        f"with the normalisation layers' running averages (eval mode, how the probe runs by "
        f"default) {what}: the running averages lag the weights{slow}, so frames and alerts "
        "describe a network other than the one training. Pass Monitor(..., probe_mode='train') "
        "to probe with batch statistics (buffers are restored after each probe pass)"
    )
