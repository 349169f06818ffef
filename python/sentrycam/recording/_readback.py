"""Reading recordings back: all at once, or incrementally while another process writes them.

:class:`RecordingTail` remembers how far it has read each stored file, so each :meth:`poll` parses
only what was added since; it notices a run that ended (the end marker) and a run that restarted
(the recording was replaced: a file shrank or changed under what was read, segments vanished, or
it grew after its end marker). Reads both layouts of :mod:`.location`, including single-file
recordings written before segments existed.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ..wire import META_KEY, Frame, frame_from_table
from ._location import Location, Piece, locate

EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # ends every IPC stream the writer wrote whole
FULL_LISTING_EVERY = 20  # polls of a segment folder between two listings of all of it
FINGERPRINT_BYTES = 256  # the head of the first file, compared on each poll to notice a rewrite


class RecordingError(ValueError):
    """A recording that cannot be read: missing, empty, foreign or corrupt (plain words)."""


@dataclass
class Poll:
    """What one poll found: new frames, and whether the run restarted or ended."""

    frames: list[Frame] = field(default_factory=list)
    restarted: bool = False
    ended: dict[str, Any] | None = None  # the end marker's facts, once the run has ended
    truncated: str | None = None  # a damaged stream that ended the reading (``final`` polls)
    exists: bool = True


class RecordingTail:
    """Incremental reader of one recording (a path or fsspec URL)."""

    def __init__(self, target: str | os.PathLike[str] | Location) -> None:
        self.location = target if isinstance(target, Location) else locate(target)
        self._polls = 0
        self._reset()

    def _reset(self) -> None:
        self._offsets: dict[str, int] = {}  # bytes consumed per stored file
        self._stalled: dict[str, int] = {}  # a segment that stopped short: its size then
        self._fingerprint = b""
        self._first_path = ""
        self.ended: dict[str, Any] | None = None
        self.frames_read = 0
        self.bytes_read = 0
        self._known: list[Piece] = []  # the segments of a folder as last seen

    def poll(self, *, final: bool = False) -> Poll:
        """Frames added since the last poll. ``final``: nothing more will be written, so bytes
        that do not parse are damage (reported in ``truncated``), not a frame still being written.
        """
        pieces = self._listing()
        if pieces is None:
            return Poll(exists=False)
        result = Poll()
        if self._replaced(pieces):
            self._reset()
            result.restarted = True
        if not self._read_pieces(pieces, result, final):
            return result  # a file vanished while it was read: a new run is starting
        if pieces and not self._fingerprint:
            self._first_path = pieces[0].path
            self._fingerprint = self.location.read(Piece(pieces[0].path, FINGERPRINT_BYTES))
        if self.ended is None:
            ended = self._end_marker(pieces)
            if ended is not None:
                # The writer wrote its last frames before the marker: read what came since the
                # listing, so a follower that stops at the end has every frame.
                pieces = self.location.pieces() or []
                self._read_pieces(pieces, result, final=True)
                self.ended = ended
        if self._folder(pieces):
            self._known = pieces
        result.ended = self.ended
        return result

    def _listing(self) -> list[Piece] | None:
        """The stored files: a segment folder is listed whole only now and then (and after a
        restart); in between, only its last segment and the names after it are asked for."""
        self._polls += 1
        if self._known and self._polls % FULL_LISTING_EVERY:
            unread = [p.index for p in self._known if self._offsets.get(p.path, 0) < p.size]
            start = min(unread, default=self._known[-1].index)  # the last one may still grow
            return self.location.newer(self._known, start)
        return self.location.pieces()

    def _folder(self, pieces: list[Piece]) -> bool:
        return bool(pieces) and not (len(pieces) == 1 and pieces[0].path == self.location.path)

    def _read_pieces(self, pieces: list[Piece], result: Poll, final: bool) -> bool:
        """Parse what each piece holds beyond what was read; False when one vanished."""
        for i, piece in enumerate(pieces):
            start = self._offsets.get(piece.path, 0)
            if piece.size <= start:
                continue
            try:
                data = self.location.read(piece, start)
            except FileNotFoundError:
                return False
            last = i == len(pieces) - 1
            used, problem = self._parse(data, start, piece, result)
            self._offsets[piece.path] = start + used
            if problem is None:
                self._stalled.pop(piece.path, None)
                continue
            if final or (not last and self._stalled.get(piece.path) == piece.size):
                # Damage, not a frame being written: a closed recording, or a segment that
                # stopped short and did not grow since the last poll. Skip its rest.
                self._offsets[piece.path] = piece.size
                if final or result.truncated is None:
                    result.truncated = problem
            elif not last:
                self._stalled[piece.path] = piece.size  # listed mid-write: look again next poll
                return True
        return True

    def _end_marker(self, pieces: list[Piece]) -> dict[str, Any] | None:
        """The end marker's facts, once the writer has closed the recording."""
        path = self.location.end_path(segmented=not pieces or self._folder(pieces))
        try:
            return dict(json.loads(self.location.fs.cat_file(path)))
        except (FileNotFoundError, OSError, ValueError):
            return None

    def _replaced(self, pieces: list[Piece]) -> bool:
        """Whether the recording was rewritten since the last poll."""
        if not self._offsets:
            return False
        sizes = {p.path: p.size for p in pieces}
        if any(sizes.get(path, -1) < used for path, used in self._offsets.items() if used):
            return True  # a file shrank or disappeared
        if self._first_path and (not pieces or pieces[0].path != self._first_path):
            return True
        if self._fingerprint and len(self._fingerprint) == FINGERPRINT_BYTES:
            try:
                head = self.location.read(Piece(pieces[0].path, FINGERPRINT_BYTES))
            except FileNotFoundError:
                return True  # removed since it was listed: a new run is replacing this one
            if head != self._fingerprint:
                return True
        consumed = sum(self._offsets.values())
        return self.ended is not None and sum(p.size for p in pieces) > consumed

    def _parse(self, data: bytes, start: int, piece: Piece, result: Poll) -> tuple[int, str | None]:
        """Frames from ``data``; returns the bytes consumed and the problem that stopped it."""
        reader = pa.BufferReader(data)
        used = 0
        while used < len(data):
            try:
                table = pa.ipc.open_stream(reader).read_all()
            except (pa.ArrowInvalid, OSError, EOFError) as exc:
                where = f"{piece.path} at byte {start + used}"
                return used, f"{where}: a frame is corrupt or truncated ({exc})"
            end = reader.tell()
            if data[end - len(EOS) : end] != EOS:  # read up to what is written so far: wait
                return used, f"{piece.path} at byte {start + used}: a frame is truncated"
            meta = table.schema.metadata or {}
            if META_KEY in meta:
                result.frames.append(frame_from_table(table, data[used:end]))
                self.frames_read += 1
            else:
                raise RecordingError(
                    f"{self.location.given} is not a sentrycam recording: its Arrow data has no "
                    "'sentrycam' metadata (was it written by Monitor(record=...)?)"
                )
            self.bytes_read += end - used
            used = end
        return used, None


def iter_recording(path: str | os.PathLike[str], *, strict: bool = False) -> Iterator[Frame]:
    """Yield every frame of a recording (a path or fsspec URL) in order.

    A corrupt or truncated frame (a crash mid-write) ends the reading with a warning, keeping every
    frame before it; ``strict=True`` raises ``ValueError`` instead.
    """
    poll = read_all(path, require_frames=False)
    if poll.truncated is not None:
        if strict:
            raise ValueError(poll.truncated)
        warnings.warn(f"sentrycam: {poll.truncated}; read the frames before it", stacklevel=2)
    yield from poll.frames


def read_recording(path: str | os.PathLike[str], *, strict: bool = False) -> list[Frame]:
    """All frames of a recording written by ``Monitor(record=...)`` (see :func:`iter_recording`)."""
    return list(iter_recording(path, strict=strict))


def read_all(path: str | os.PathLike[str], *, require_frames: bool = True) -> Poll:
    """One final poll of a whole recording: ``FileNotFoundError`` when there is none,
    :class:`RecordingError` for a foreign file (or, with ``require_frames``, an empty one)."""
    tail = RecordingTail(path)
    given = tail.location.given
    try:
        poll = tail.poll(final=True)
    except pa.ArrowInvalid as exc:
        raise RecordingError(f"{given} could not be read: {exc}") from exc
    if not poll.exists:
        raise FileNotFoundError(f"no recording at {given}: no such file or folder")
    if not poll.frames:
        if tail.bytes_read == 0 and poll.truncated is not None:
            raise RecordingError(
                f"{given} is not a sentrycam recording: it does not start with an Arrow IPC "
                "stream (a recording is written by Monitor(record=...))"
            )
        if poll.truncated is None and require_frames:
            if tail.location.pieces() == []:
                raise RecordingError(
                    f"{given} is a folder without segments (part-*.arrows): not a sentrycam "
                    "recording, or nothing was recorded in it yet"
                )
            raise RecordingError(f"{given} is empty: no frame was recorded in it")
    return poll
