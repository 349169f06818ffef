"""After the training thread: the background worker, the frame builder (metrics, alerts, width
cap, encoding) and the pipeline that records and sends what it builds.
"""

from ._builder import FrameBuilder
from ._pipeline import CapturePipeline
from ._project import DEFAULT_MAX_DIM, DEFAULT_MAX_FRAME_BYTES, MIN_FRAME_BYTES
from ._worker import CaptureWorker

__all__ = [
    "DEFAULT_MAX_DIM",
    "DEFAULT_MAX_FRAME_BYTES",
    "MIN_FRAME_BYTES",
    "CapturePipeline",
    "CaptureWorker",
    "FrameBuilder",
]
