"""Capture, on the training thread: the probe pass with temporary hooks, pooling each layer's output
to one row per sample, the cadence, multi-process capture, ``log()``'s inputs, and the hand-off
(:class:`Capture`) to the pipeline.
"""

from ._cadence import Cadence
from ._distributed import Distributed
from ._handoff import Capture, LayerCapture
from ._inputs import Inputs
from ._layers import WatchedLayer, resolve_layers
from ._means import ScalarMeans
from ._modes import PROBE_MODES
from ._pool import Pooled, check_pool, pool_for, pool_output
from ._probe import DEFAULT_PROBE_BATCH, Probe, ProbeRun, ProbeRunner
from ._session import ProbeSession

__all__ = [
    "DEFAULT_PROBE_BATCH",
    "PROBE_MODES",
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
    "ScalarMeans",
    "WatchedLayer",
    "check_pool",
    "pool_for",
    "pool_output",
    "resolve_layers",
]
