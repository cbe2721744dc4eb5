"""`CacheReader`: stream cached events from any sequence number, file by file, never trusting bad bytes.

The manifest is read once when the reader opens, so a reader sees one consistent cache even while a
replicator commits new segments next to it (segments are never changed once committed, and a repair
replaces a file by rename, which leaves files already open intact).
"""

from __future__ import annotations

from collections.abc import Iterator
from os import PathLike
from pathlib import Path

from messagehandler.cache.errors import CacheError
from messagehandler.cache.format import Manifest, SegmentInfo
from messagehandler.cache.raw import RawEvent
from messagehandler.cache.segments import PageEntry, iter_rows, read_index
from messagehandler.eventsource.positions import TypePosition


class CacheReader:
    """Read access to one cache directory as of the moment it was opened."""

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise CacheError(f"{self.path} is not a directory holding an event cache")
        self.manifest = Manifest.load(self.path)

    @property
    def last_seq(self) -> int:
        return self.manifest.last_seq

    @property
    def stream_types(self) -> list[str]:
        return sorted(self.manifest.positions)

    @property
    def segments(self) -> list[SegmentInfo]:
        return list(self.manifest.segments)

    def position(self, stream_type: str) -> TypePosition | None:
        return self.manifest.positions.get(stream_type)

    def events(self, start: int = 0) -> Iterator[RawEvent]:
        """Events with seq > `start`, in seq order; a damaged file raises `CacheCorruptError` before any of its bad bytes are used."""
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        for info in self.manifest.segments:
            if info.last_seq > start:
                yield from iter_rows(self.path, info, start)

    def page_index(self, info: SegmentInfo) -> list[PageEntry]:
        return read_index(self.path, info)

    def size_on_disk(self) -> int:
        return sum(s.size + s.index_size for s in self.manifest.segments) + len(self.manifest.dumps())
