"""sentrycam: watch a neural network's hidden layers while it trains, live in Jupyter."""

# First: modules imported below read it (the exported page records it). Equal to package.json's
# and src/contract.ts's VERSION (tests/python/test_contract.py).
__version__ = "0.1.0"


from .alerts import Alert, AlertEngine
from .follow import watch
from .frames import Frame, decode_frame, encode_frame
from .groups import GROUP_METRICS, group_metric_name
from .monitor import Monitor
from .problems import SentrycamWarning
from .readback import iter_recording, read_recording
from .snapshot import Snapshot
from .tables import read_metrics, read_table

__all__ = [
    "GROUP_METRICS",
    "Alert",
    "AlertEngine",
    "Frame",
    "Monitor",
    "SentrycamWarning",
    "Snapshot",
    "decode_frame",
    "encode_frame",
    "group_metric_name",
    "iter_recording",
    "read_metrics",
    "read_recording",
    "read_table",
    "watch",
]
