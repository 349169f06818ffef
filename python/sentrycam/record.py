"""Recordings: frames appended to a file as concatenated Arrow IPC streams, and read back.

A recording is the wire format on disk: each frame is one complete Arrow IPC stream, appended as it
is captured (and flushed, so a crash loses nothing already captured). ``pyarrow.ipc.open_stream``
reads one frame; :func:`read_recording` reads them all.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from .frames import Frame, _frame_from_table


class Recorder:
    """Appends encoded frames to ``path`` (created or truncated when the recorder opens)."""

    def __init__(self, path: str | os.PathLike[str], *, append: bool = False) -> None:
        self.path = Path(path)
        folder = self.path.parent
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise ValueError(
                f"cannot record to {self.path}: the folder {folder} {what}; create it first or "
                "choose another path"
            )
        if self.path.is_dir():
            raise ValueError(
                f"cannot record to {self.path}: it is a folder; name a file, e.g. "
                f"{self.path / 'run.arrows'}"
            )
        try:
            self._file = open(self.path, "ab" if append else "wb")  # noqa: SIM115 - held open on purpose
        except OSError as exc:
            raise ValueError(
                f"cannot record to {self.path}: {exc.strerror or exc} (is the folder writable?)"
            ) from exc
        self.frames = 0

    def write(self, frame: Frame) -> None:
        """Append one frame and flush it to the OS."""
        self._file.write(frame.ipc)
        self._file.flush()
        self.frames += 1

    def close(self) -> None:
        """Close the file; later writes raise."""
        if not self._file.closed:
            self._file.close()


def iter_recording(path: str | os.PathLike[str], *, strict: bool = False) -> Iterator[Frame]:
    """Yield every frame of a recording in order.

    A corrupt or truncated frame (a crash mid-write) ends the reading with a warning, keeping every
    frame before it; ``strict=True`` raises ``ValueError`` instead.
    """
    data = Path(path).read_bytes()
    reader = pa.BufferReader(data)
    while reader.tell() < len(data):
        start = reader.tell()
        try:
            table = pa.ipc.open_stream(reader).read_all()
        except (pa.ArrowInvalid, OSError) as exc:
            message = f"{path}: the frame starting at byte {start} is corrupt or truncated ({exc})"
            if strict:
                raise ValueError(message) from exc
            warnings.warn(f"sentrycam: {message}; read the frames before it", stacklevel=2)
            return
        yield _frame_from_table(table, data[start : reader.tell()])


def read_recording(path: str | os.PathLike[str], *, strict: bool = False) -> list[Frame]:
    """All frames of a recording written by ``Monitor(record=...)`` (see :func:`iter_recording`)."""
    return list(iter_recording(path, strict=strict))
