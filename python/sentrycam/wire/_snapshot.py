"""Snapshots rendered by the browser and written by the kernel.

The kernel asks a displayed view for an image and writes the bytes the view sends back. ipykernel
handles messages from the browser only *between* cell executions, so the file appears once the cell
that called ``cam.snapshot`` has finished: by the time the next cell runs when cells are run one by
one. A snapshot never blocks the calling cell.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..contract import IMAGE_FORMATS as FORMATS

_ids = itertools.count(1)


@dataclass
class Snapshot:
    """A requested snapshot: ``state`` is ``"pending"``, ``"written"`` or ``"failed"``."""

    path: Path
    format: str
    id: int = field(default_factory=lambda: next(_ids))
    state: str = "pending"
    error: str | None = None
    bytes_written: int = 0
    requested_at: float = field(default_factory=time.time)
    #: The user was told once that the view has not answered yet.
    reported: bool = False

    @property
    def done(self) -> bool:
        """True once the file was written or the request failed."""
        return self.state != "pending"

    def _repr_pretty_(self, p: object, cycle: bool) -> None:  # IPython display
        p.text(str(self))  # type: ignore[attr-defined]

    def __str__(self) -> str:
        if self.state == "written":
            return f"Snapshot written: {self.path} ({self.bytes_written:,} bytes, {self.format})"
        if self.state == "failed":
            return f"Snapshot of {self.path} failed: {self.error}"
        return (
            f"Snapshot of {self.path} requested from the view; the file is written as soon as the "
            "kernel is idle (after this cell finishes)."
        )


def snapshot_format(path: str | os.PathLike[str], fmt: str | None) -> str:
    """The image format for ``path``: ``fmt`` when given, else the file suffix (default png)."""
    chosen = (fmt or Path(path).suffix.lstrip(".") or "png").lower()
    if chosen not in FORMATS:
        raise ValueError(f"snapshot format must be one of {FORMATS}, got {chosen!r}")
    return chosen


def write_snapshot(snap: Snapshot, data: bytes) -> None:
    """Write the image bytes a view returned, after checking they are what was asked for."""
    if snap.format == "png" and not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("the view returned data that is not a PNG image")
    if snap.format == "svg" and b"<svg" not in data[:4096]:
        raise ValueError("the view returned data that is not an SVG image")
    snap.path.parent.mkdir(parents=True, exist_ok=True)
    snap.path.write_bytes(data)
    snap.bytes_written = len(data)
    snap.state = "written"
