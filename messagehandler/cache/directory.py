"""The files of one cache directory: where segments are written and how the manifest is committed.

A leaf shared by the replicator and the repair, so each depends on it and neither on the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from messagehandler.cache.errors import CacheFileError
from messagehandler.cache.format import MANIFEST, Manifest
from messagehandler.cache.segments import SegmentWriter
from messagehandler.files import file_errors, write_atomic

DEFAULT_PAGE_EVENTS = 1000
DEFAULT_PAGE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class CacheDirectory:
    """A cache's folder and the page sizes its segments are written with."""

    path: Path
    page_events: int = DEFAULT_PAGE_EVENTS
    page_bytes: int = DEFAULT_PAGE_BYTES

    def new_writer(self, number: int) -> SegmentWriter:
        return SegmentWriter(self.path, number, page_events=self.page_events, page_bytes=self.page_bytes)

    def commit_manifest(self, manifest: Manifest) -> None:
        path = self.path / MANIFEST
        with file_errors("write cache manifest", path, CacheFileError):
            write_atomic(path, manifest.touched().dumps())
