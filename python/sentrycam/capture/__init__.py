"""Capture, on the training thread: the probe pass with temporary hooks, pooling each layer's output
to one row per sample, the cadence, multi-process capture, ``log()``'s inputs, and the hand-off
(:class:`Capture`) to the pipeline.
"""

from ._cadence import Cadence
from ._distributed import Distributed
from ._handoff import Capture, LayerCapture
from ._inputs import Inputs
from ._pool import Pooled, check_pool, pool_for, pool_output
from ._probe import DEFAULT_PROBE_BATCH, Probe, ProbeRun, ProbeRunner, resolve_layers
from ._session import ProbeSession

__all__ = [
    "DEFAULT_PROBE_BATCH",
    "Cadence",
    "Capture",
    "Distributed",
    "Inputs",
    "LayerCapture",
    "Pooled",
    "Probe",
    "ProbeRun",
    "ProbeRunner",
    "ProbeSession",
    "check_pool",
    "pool_for",
    "pool_output",
    "resolve_layers",
]
