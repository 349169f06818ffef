"""Recording: frames written to a file or a folder of segments as they are captured.

See :mod:`.location` for the two layouts. What survives a crash (SIGKILL): in one local file or a
local folder, every frame written (each is flushed to the OS); on an object store, every segment
already uploaded, so at most the open segment, which is rolled every :data:`SEGMENT_SECONDS`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..wire import Frame
from ._location import Location, locate, segment_name, wants_segments

SEGMENT_FRAMES = 256  # a segment is rolled after this many frames ...
SEGMENT_BYTES = 64 << 20  # ... or this many bytes ...
SEGMENT_SECONDS = 1.0  # ... or, on an object store, this long after its first frame (watch lag)
UPLOAD_RETRY_S = 5.0  # a failed upload is retried after this long; its frames are kept meanwhile
CLOSE_ATTEMPTS = 3  # uploads tried at close before the last segment is given up (and reported)


class UploadDelayed(OSError):
    """A segment's upload failed: its frames (this one included) are kept and retried."""


class Recorder:
    """Writes encoded frames to a path or fsspec URL (an existing recording there is replaced)."""

    def __init__(self, target: str | os.PathLike[str], *, append: bool = False) -> None:
        location = locate(target)
        self.location = location
        self.path: Path | str = Path(location.path) if location.local else location.given
        self.segmented = wants_segments(location)
        self._end = location.end_path(self.segmented)
        self._sink: _FileSink | _SegmentSink
        if not append and location.fs.exists(self._end):
            location.fs.rm(self._end)  # the run that ended here is being replaced
        if self.segmented:
            self._sink = _SegmentSink(location, append=append)
        else:
            self._sink = _FileSink(location, append=append)
        self.frames = 0

    def write(self, frame: Frame) -> None:
        """Append one frame (flushed locally; uploaded with its segment on an object store).

        Raises :class:`UploadDelayed` after keeping the frame when an earlier upload failed."""
        try:
            self._sink.write(frame.ipc)
        except UploadDelayed:
            self.frames += 1
            raise
        self.frames += 1

    def close(self) -> None:
        """Finish (flush, upload the last segment), then write the end marker; writes raise."""
        if self._sink.close():
            facts = {"frames": self.frames, "closed": time.time()}
            self.location.fs.pipe_file(self._end, json.dumps(facts).encode())


class _FileSink:
    """One local file, appended and flushed frame by frame."""

    def __init__(self, location: Location, *, append: bool) -> None:
        path = Path(location.path)
        folder = path.parent
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise ValueError(
                f"cannot record to {path}: the folder {folder} {what}; create it first or "
                "choose another path"
            )
        try:
            self._file = open(path, "ab" if append else "wb")  # noqa: SIM115 - held open on purpose
        except OSError as exc:
            raise ValueError(
                f"cannot record to {path}: {exc.strerror or exc} (is the folder writable?)"
            ) from exc

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()

    def close(self) -> bool:
        """Close the file; True the first time."""
        if self._file.closed:
            return False
        self._file.close()
        return True


class _SegmentSink:
    """A folder of segments: appended in place on a local disk, uploaded whole elsewhere."""

    def __init__(self, location: Location, *, append: bool) -> None:
        self.location = location
        fs = location.fs
        try:
            fs.makedirs(location.path, exist_ok=True)
            old = location.pieces() or []
        except Exception as exc:
            raise ValueError(f"cannot record to {location.given}: {exc}") from exc
        if not append:
            for piece in old:  # a new run replaces the old one, as a file would be truncated
                fs.rm(piece.path)
        self._index = old[-1].index + 1 if append and old else 0
        self._lock = threading.Condition()
        self._buffer: list[bytes] = []  # frames of the open segment
        self._buffer_bytes = 0
        self._opened_at = 0.0
        self._file: Any = None  # the open local segment, and what it holds
        self._file_frames = self._file_bytes = 0
        self._error: Exception | None = None
        self._closed = False
        self._uploader: threading.Thread | None = None
        if not location.local:
            self._uploader = threading.Thread(
                target=self._upload_loop, name="sentrycam-segments", daemon=True
            )
            self._uploader.start()

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._closed:
                raise ValueError(f"the recording {self.location.given} is closed")
            if self.location.local:
                self._write_local(data)
                return
            if not self._buffer:
                self._opened_at = time.monotonic()
            self._buffer.append(data)
            self._buffer_bytes += len(data)
            self._lock.notify_all()
            error, self._error = self._error, None
        if error is not None:
            raise UploadDelayed(
                f"a segment's upload failed ({error}); its frames are kept in memory and the "
                f"upload is retried every {UPLOAD_RETRY_S:g} s"
            )

    def close(self) -> bool:
        """Close the open segment (uploaded first on an object store); True the first time."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            if self.location.local:
                if self._file is not None:
                    self._file.close()
                return True
            self._lock.notify_all()
        if self._uploader is not None:
            self._uploader.join()
        if self._buffer:
            raise OSError(
                f"the last segment of {self.location.given} could not be uploaded ({self._error})"
            )
        return True

    # ---- local: append in place -------------------------------------------------------------

    def _write_local(self, data: bytes) -> None:
        if self._file is None:
            self._file = open(self.location.join(segment_name(self._index)), "wb")  # noqa: SIM115
            self._file_frames = self._file_bytes = 0
        self._file.write(data)
        self._file.flush()
        self._file_frames += 1
        self._file_bytes += len(data)
        if self._file_frames >= SEGMENT_FRAMES or self._file_bytes >= SEGMENT_BYTES:
            self._file.close()
            self._file = None
            self._index += 1

    # ---- object store: roll and upload on a thread of its own -------------------------------

    def _due(self) -> float:
        """Seconds until the open segment must be rolled (0: now)."""
        if self._closed or len(self._buffer) >= SEGMENT_FRAMES:
            return 0.0
        if self._buffer_bytes >= SEGMENT_BYTES:
            return 0.0
        return max(0.0, self._opened_at + SEGMENT_SECONDS - time.monotonic())

    def _upload_loop(self) -> None:
        failures_at_close = 0
        while True:
            with self._lock:
                while not self._buffer and not self._closed:
                    self._lock.wait()
                while self._buffer and (wait := self._due()) > 0:
                    self._lock.wait(wait)
                if not self._buffer:
                    return  # closed and everything is uploaded
                taken, name = list(self._buffer), segment_name(self._index)
            try:
                self.location.fs.pipe_file(self.location.join(name), b"".join(taken))
            except Exception as exc:  # keep the frames; retry later (a few times at close)
                with self._lock:
                    self._error = exc
                    if self._closed:
                        failures_at_close += 1
                        if failures_at_close >= CLOSE_ATTEMPTS:
                            return
                    self._lock.wait(UPLOAD_RETRY_S)
                continue
            with self._lock:
                del self._buffer[: len(taken)]
                self._buffer_bytes = sum(len(b) for b in self._buffer)
                self._opened_at = time.monotonic()
                self._index += 1
