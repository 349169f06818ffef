"""Frames on the wire: the Arrow IPC encoding, the channel to the views (history, pacing,
replay to late views), snapshots and the standalone HTML page.
"""

from ._bundle import CSS, ESM, STATIC, bundle_missing
from ._channel import ViewChannel
from ._frames import (
    META_KEY,
    Frame,
    decode_frame,
    encode,
    encode_frame,
    frame_from_table,
    nullable_int32,
)
from ._html import write_html
from ._snapshot import Snapshot

__all__ = [
    "CSS",
    "ESM",
    "META_KEY",
    "STATIC",
    "Frame",
    "Snapshot",
    "ViewChannel",
    "bundle_missing",
    "decode_frame",
    "encode",
    "encode_frame",
    "frame_from_table",
    "nullable_int32",
    "write_html",
]
