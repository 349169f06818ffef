"""sentrycam: watch a neural network's hidden layers while it trains, live in Jupyter."""

from .alerts import Alert, AlertEngine
from .frames import Frame, decode_frame, encode_frame
from .monitor import Monitor
from .problems import SentrycamWarning
from .record import iter_recording, read_recording
from .snapshot import Snapshot

__all__ = [
    "Alert",
    "AlertEngine",
    "Frame",
    "Monitor",
    "SentrycamWarning",
    "Snapshot",
    "decode_frame",
    "encode_frame",
    "iter_recording",
    "read_recording",
]
__version__ = "0.1.0"
