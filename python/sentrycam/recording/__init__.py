"""Recordings: where one lives (a file or a folder of segments, any fsspec URL), writing it,
reading it back (all at once or as it grows), its Arrow tables, and following it.
"""

from ._follow import ENDED_POLL_S, MAX_BACKOFF_S, POLL_S, FollowedMonitor, FollowThread, RunFollower
from ._location import Location, Piece, locate
from ._readback import Poll, RecordingError, RecordingTail, iter_recording, read_all, read_recording
from ._record import Recorder
from ._tables import read_metrics, read_table

__all__ = [
    "ENDED_POLL_S",
    "MAX_BACKOFF_S",
    "POLL_S",
    "FollowThread",
    "FollowedMonitor",
    "Location",
    "Piece",
    "Poll",
    "Recorder",
    "RecordingError",
    "RecordingTail",
    "RunFollower",
    "iter_recording",
    "locate",
    "read_all",
    "read_metrics",
    "read_recording",
    "read_table",
]
