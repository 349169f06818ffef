"""Where a recording lives: one file, or a folder of segments, on any fsspec filesystem.

A recording is a sequence of frames, each one complete Arrow IPC stream (see :mod:`.frames`). It
is stored in one of two layouts:

- **one file** (a local path such as ``run.arrows``): frames are appended and flushed as they come;
- **a folder of segments** (any non-local fsspec URL such as ``s3://bucket/run``, or a local path
  ending in ``/`` or naming an existing folder): ``part-000000.arrows``, ``part-000001.arrows``, …
  each a run of consecutive frames in the one-file format. Object stores cannot append, so each
  segment is uploaded whole when it is rolled; on a local disk the open segment is appended and
  flushed in place.

Closing a recording writes an *end marker* beside the frames, a small JSON file (``end.json`` in
a segment folder, ``<file>.end.json`` next to one file), so a follower learns that the run ended;
the frames themselves stay plain Arrow. A new recording at the same place removes it first.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import fsspec

SEGMENT_PATTERN = re.compile(r"^part-(\d{6,})\.arrows$")
END_MARKER = "end.json"  # in a segment folder; next to one file it is "<file>.end.json"


def segment_name(index: int) -> str:
    """The file name of segment ``index`` inside a segmented recording."""
    return f"part-{index:06d}.arrows"


@dataclass
class Piece:
    """One stored file of a recording: the whole recording, or one of its segments."""

    path: str
    size: int
    index: int = 0


@dataclass
class Location:
    """A recording's place: the filesystem, the path on it, and the text the user gave."""

    given: str
    fs: Any  # fsspec.AbstractFileSystem
    path: str

    @property
    def local(self) -> bool:
        """True on the machine's own disk, where files can be appended to and flushed."""
        protocol = self.fs.protocol
        protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
        return "file" in protocols or "local" in protocols

    def join(self, name: str) -> str:
        """The path of ``name`` inside the recording's folder."""
        return f"{self.path.rstrip('/')}/{name}"

    def end_path(self, segmented: bool) -> str:
        """Where the end marker of this recording is written."""
        return self.join(END_MARKER) if segmented else f"{self.path}.{END_MARKER}"

    def pieces(self) -> list[Piece] | None:
        """The stored files in order, read afresh (no cached listing); ``None`` when nothing is
        there. A folder with no segment yet gives ``[]``."""
        fs = self.fs
        fs.invalidate_cache(self.path)
        try:
            info = fs.info(self.path)
        except FileNotFoundError:
            return None
        if info.get("type") != "directory":
            return [Piece(self.path, int(info.get("size") or 0))]
        found: list[Piece] = []
        for entry in fs.ls(self.path, detail=True):
            name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
            match = SEGMENT_PATTERN.match(name)
            if match and entry.get("type") != "directory":
                found.append(Piece(str(entry["name"]), int(entry.get("size") or 0), int(match[1])))
        return sorted(found, key=lambda p: p.index)

    def newer(self, known: list[Piece], start: int) -> list[Piece]:
        """``known`` segments up to index ``start``, then the sizes of segment ``start`` and of
        every one after it, asked for name by name: a few small requests per poll instead of
        listing a folder that holds thousands of segments after a long run."""
        self.fs.invalidate_cache(self.path)
        pieces = [p for p in known if p.index < start]
        index = start
        while True:
            path = self.join(segment_name(index))
            try:
                size = int(self.fs.info(path).get("size") or 0)
            except FileNotFoundError:
                return pieces
            pieces.append(Piece(path, size, index))
            index += 1

    def read(self, piece: Piece, start: int = 0) -> bytes:
        """The bytes of ``piece`` from ``start`` to its end as listed."""
        if start >= piece.size:
            return b""
        return bytes(self.fs.cat_file(piece.path, start=start, end=piece.size))


def locate(target: str | os.PathLike[str]) -> Location:
    """The :class:`Location` of a path or fsspec URL (a clear error for an unknown protocol)."""
    given = os.fspath(target)
    if not isinstance(given, str) or not given:
        raise ValueError(f"a recording needs a path or URL, got {target!r}")
    try:
        fs, path = fsspec.core.url_to_fs(given)
    except (ImportError, ValueError) as exc:
        protocol = given.split("://", 1)[0] if "://" in given else "?"
        raise ValueError(
            f"cannot open {given}: fsspec has no working filesystem for '{protocol}://' ({exc}); "
            f"install the package it names (e.g. s3fs for s3://, gcsfs for gs://)"
        ) from exc
    return Location(given, fs, path)


def wants_segments(location: Location) -> bool:
    """Whether a new recording at ``location`` is written as a folder of segments: on any
    non-local filesystem, or locally for a path ending in ``/`` or a folder of segments already.

    Any other existing local folder is refused: naming a folder by mistake (where a file name was
    meant) should not quietly spread segments into it.
    """
    if not location.local:
        return True  # object stores cannot append
    if location.given.endswith(("/", os.sep)):
        return True
    if os.path.isdir(location.path):
        if location.pieces() or os.path.exists(location.end_path(segmented=True)):
            return True
        raise ValueError(
            f"cannot record to {location.given}: it is a folder; name a file, e.g. "
            f"{os.path.join(location.given, 'run.arrows')}, or end the path with '/' to record "
            "into it as a folder of segments"
        )
    return False
