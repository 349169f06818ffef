"""The hand-off: what the training thread gives the background thread for one capture.

The capture stage (a probe pass, or ``log()``'s arrays) fills these on the training thread; the
pipeline (:mod:`sentrycam.pipeline`) turns them into metrics, alerts and frames. Nothing here
holds a GPU tensor that is still being written, except ``preds`` until ``ready`` is waited on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._pool import Pooled


@dataclass
class LayerCapture:
    """One layer of one capture: pooled rows (on the CPU) and what belongs to each row."""

    pooled: Pooled
    labels: np.ndarray | None = None
    preds: Any = None  # int vector, logits, or a CPU tensor still being copied from the GPU
    ids: np.ndarray | None = None
    groups: np.ndarray | None = None  # int32 codes into Capture.group_names (-1: no group)


@dataclass
class Capture:
    """What the training thread hands to the background thread for one step."""

    step: int
    layers: dict[str, LayerCapture]
    scalars: dict[str, float] = field(default_factory=dict)
    every: int | None = None  # the capture cadence (None for ``log()``)
    ready: list[Any] = field(default_factory=list)  # CUDA events: the copies to the CPU are done
    group_names: tuple[str, ...] = ()  # the monitor's group-name list when it was captured
    tasks: tuple[dict[str, Any], ...] = ()  # the task boundaries marked before it
    #: The model output's largest |logit| and mean entropy: a (2,) tensor (maybe still being
    #: copied from the GPU), read as the run scalars ``logit_max`` and ``logit_entropy``.
    logits: Any = None
    #: For each scalar, how many training steps its value is the mean of (``step()`` averages
    #: what it is given between captures; 1: one step's value).
    scalar_steps: dict[str, int] = field(default_factory=dict)
