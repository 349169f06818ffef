"""sentrycam: watch a neural network's hidden layers while it trains, live in Jupyter.

The package is laid out as the data flow: ``capture`` (training thread) → ``pipeline``
(background thread: metrics, alerts, frames) → ``wire`` (Arrow frames, the views) and
``recording``; ``metrics`` and ``alerts`` beside it; ``contract`` and ``base`` under everything.
``Monitor`` (``monitor.py``) is the façade; ``watch``, ``cli`` and ``integrations`` sit on top.
"""

from ._watch import watch
from .alerts import Alert, AlertEngine
from .base import SentrycamWarning, group_metric_name
from .contract import GROUP_METRICS, __version__
from .monitor import Monitor
from .recording import iter_recording, read_metrics, read_recording, read_table
from .wire import Frame, Snapshot, decode_frame, encode_frame

__all__ = [
    "GROUP_METRICS",
    "Alert",
    "AlertEngine",
    "Frame",
    "Monitor",
    "SentrycamWarning",
    "Snapshot",
    "__version__",
    "decode_frame",
    "encode_frame",
    "group_metric_name",
    "iter_recording",
    "read_metrics",
    "read_recording",
    "read_table",
    "watch",
]
