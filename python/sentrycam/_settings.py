"""Monitor settings, checked once before training starts, and the step number's type."""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .capture import DEFAULT_PROBE_BATCH, PROBE_MODES, check_pool
from .contract import REDUCERS
from .pipeline import MIN_FRAME_BYTES

DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class MonitorSettings:
    """Everything ``Monitor(...)`` was told, checked (see :meth:`check`)."""

    layers: list[str]
    every: int
    record: str | os.PathLike[str] | None
    max_frames: int
    max_bytes: int
    reducer: str
    dtype: str
    title: str
    strict: bool
    metrics: bool
    pool: Any
    max_dim: int
    max_frame_bytes: int
    probe_batch: int | None
    sync: bool
    budget: float | None
    distributed: str
    class_names: list[str]
    batch_first: bool
    probe_mode: str

    @classmethod
    def check(cls, *, layers: Any, has_model: bool, **given: Any) -> MonitorSettings:
        """The settings, or ``ValueError``/``TypeError`` in plain words for one that cannot
        work. ``pool`` is checked against the layers when there is a model (``log()`` alone
        may name its layers later)."""
        names = [layers] if isinstance(layers, str) else [str(name) for name in layers]
        check_settings(
            given["every"],
            given["reducer"],
            given["dtype"],
            given["max_frames"],
            given["max_dim"],
            given["max_frame_bytes"],
            given["probe_batch"],
            given["budget"],
        )
        check_layout(given["batch_first"], given["probe_mode"])
        given["class_names"] = check_class_names(given["class_names"])
        check_pool(given["pool"], names if has_model else None)
        return cls(layers=names, **given)

    @property
    def probe_chunk(self) -> int:
        """Probe samples per forward pass."""
        return self.probe_batch or DEFAULT_PROBE_BATCH

    def agreed(self) -> dict[str, Any]:
        """What every rank of a sharded job must agree on."""
        return {"layers": self.layers, "every": self.every, "probe_batch": self.probe_batch}


def check_settings(
    every: Any,
    reducer: str,
    dtype: str,
    max_frames: int,
    max_dim: Any,
    max_frame_bytes: Any,
    probe_batch: Any,
    budget: Any,
) -> None:
    """Raise ``ValueError`` for a setting that cannot work, before training starts."""
    if not positive_int(every):
        raise ValueError(f"every must be a positive integer, got {every!r}")
    if reducer not in REDUCERS:
        raise ValueError(f"reducer must be one of {REDUCERS}, got {reducer!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if not positive_int(max_frames):
        raise ValueError(f"max_frames must be at least 1, got {max_frames!r}")
    if not positive_int(max_dim) or max_dim < 2:
        raise ValueError(f"max_dim must be an integer of at least 2, got {max_dim!r}")
    if not positive_int(max_frame_bytes) or max_frame_bytes < MIN_FRAME_BYTES:
        raise ValueError(
            f"max_frame_bytes must be an integer of at least {MIN_FRAME_BYTES:,}, "
            f"got {max_frame_bytes!r}"
        )
    if probe_batch is not None and not positive_int(probe_batch):
        raise ValueError(f"probe_batch must be a positive integer or None, got {probe_batch!r}")
    if budget is not None and not (isinstance(budget, int | float) and 0 < budget < 1):
        raise ValueError(
            "budget must be a share of the training time between 0 and 1 (e.g. 0.05), "
            f"got {budget!r}"
        )


def check_layout(batch_first: Any, probe_mode: Any) -> None:
    """Raise ``ValueError`` for a probe layout or mode that does not exist."""
    if not isinstance(batch_first, bool):
        raise ValueError(
            "batch_first must be True (inputs (N, ...)) or False (time-major inputs (T, N, ...)), "
            f"got {batch_first!r}"
        )
    if probe_mode not in PROBE_MODES:
        raise ValueError(
            f"probe_mode must be one of {PROBE_MODES} ('train': normalisation layers use the "
            f"probe's batch statistics), got {probe_mode!r}"
        )


def positive_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1


def step_number(step: Any) -> int:
    """``step`` as an int; ``TypeError`` unless it is an integer (Python, NumPy or a 0-d tensor)."""
    if isinstance(step, bool | float | str) or not hasattr(type(step), "__index__"):
        raise TypeError(
            f"step must be an integer (the number of the training step), got {type(step).__name__} "
            f"{step!r}; pass e.g. cam.step(step) with step from range(...) or trainer.global_step"
        )
    try:
        return operator.index(step)
    except TypeError as exc:  # e.g. a float tensor
        raise TypeError(f"step must be an integer, got {step!r}") from exc


def check_class_names(class_names: Any) -> list[str]:
    """``class_names`` as a list of strings (one per class id; ``None`` gives ``[]``); a
    ``TypeError`` in plain words for anything else."""
    if class_names is None:
        return []
    if isinstance(class_names, str | bytes) or not isinstance(class_names, list | tuple):
        raise TypeError(
            "class_names must be a list of strings, one per class id (class_names[3] names "
            f"label 3), got {type(class_names).__name__} {class_names!r}"
        )
    bad = [name for name in class_names if not isinstance(name, str)]
    if bad:
        raise TypeError(
            "class_names must be a list of strings, one per class id; "
            f"{bad[0]!r} ({type(bad[0]).__name__}) is not a string: "
            "pass e.g. [str(c) for c in classes]"
        )
    return list(class_names)
