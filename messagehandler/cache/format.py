"""The on-disk layout of an event cache, version 1 (specified for other languages in docs/cache/format.md).

A cache directory holds `manifest.json` and immutable segment files (`segment-NNNNNNNN.mhc`), each with
a page index (`segment-NNNNNNNN.mhi`). The manifest is the only file ever replaced in place, and it
is replaced atomically: a segment exists for readers only once a manifest naming it was committed.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from messagehandler.cache.errors import CacheCorruptError, CacheFileError, CacheNotFoundError, CacheVersionError
from messagehandler.eventsource.positions import TypePosition

FORMAT_NAME = "messagehandler.cache"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

SEGMENT_MAGIC = b"MHCSEG"
SEGMENT_HEADER = struct.Struct("<6sH")
PAGE_MAGIC = b"MHCP"
PAGE_HEADER = struct.Struct("<4sIQII")
"""magic, payload length, first sequence number, event count, CRC-32 of the header's first 20 bytes + payload."""
PAGE_CRC_COVERS = PAGE_HEADER.size - 4

ROW_FIELDS = 15
"""seq, stream_type, stream_id, version, event_type, schema_version, event_id, when_us, stored_at_us,
who, causation_id, correlation_id, tenant_id, encryption_key_id, body."""


def segment_name(number: int) -> str:
    return f"segment-{number:08d}.mhc"


def index_name(number: int) -> str:
    return f"segment-{number:08d}.mhi"


def segment_header() -> bytes:
    return SEGMENT_HEADER.pack(SEGMENT_MAGIC, FORMAT_VERSION)


def page_bytes(first_seq: int, count: int, payload: bytes) -> bytes:
    head = PAGE_HEADER.pack(PAGE_MAGIC, len(payload), first_seq, count, 0)[:PAGE_CRC_COVERS]
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + crc.to_bytes(4, "little") + payload


@dataclass(frozen=True, slots=True)
class PageHeader:
    offset: int
    length: int
    first_seq: int
    count: int
    crc: int

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1

    @property
    def end(self) -> int:
        return self.offset + PAGE_HEADER.size + self.length


def parse_page_header(path: Path, offset: int, head: bytes, file_size: int) -> PageHeader:
    if len(head) < PAGE_HEADER.size:
        raise CacheCorruptError(path, offset, f"page header cut short ({len(head)} of {PAGE_HEADER.size} bytes)")
    magic, length, first_seq, count, crc = PAGE_HEADER.unpack(head)
    if magic != PAGE_MAGIC:
        raise CacheCorruptError(path, offset, "no page starts here (bad page magic)")
    header = PageHeader(offset, length, first_seq, count, crc)
    if header.end > file_size:
        raise CacheCorruptError(
            path, offset, f"page of {length} bytes runs past the end of the file ({file_size} bytes)"
        )
    if count == 0:
        raise CacheCorruptError(path, offset, "page claims to hold no events")
    return header


def check_page(path: Path, header: PageHeader, head: bytes, payload: bytes) -> None:
    if zlib.crc32(payload, zlib.crc32(head[:PAGE_CRC_COVERS])) != header.crc:
        raise CacheCorruptError(path, header.offset, "page checksum mismatch")


def check_segment_header(path: Path, head: bytes) -> None:
    if len(head) < SEGMENT_HEADER.size:
        raise CacheCorruptError(path, 0, "segment header cut short")
    magic, version = SEGMENT_HEADER.unpack(head)
    if magic != SEGMENT_MAGIC:
        raise CacheCorruptError(path, 0, "not a cache segment (bad magic)")
    if version > FORMAT_VERSION:
        raise CacheVersionError(
            f"cache segment {path} has format version {version}; this messagehandler reads up to "
            f"version {FORMAT_VERSION}: upgrade messagehandler to read it"
        )


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """A committed segment as the manifest records it; sizes let a reader spot truncation at once."""

    number: int
    first_seq: int
    last_seq: int
    pages: int
    size: int
    index_size: int
    index_crc32: int

    @property
    def file(self) -> str:
        return segment_name(self.number)

    @property
    def index_file(self) -> str:
        return index_name(self.number)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "file": self.file,
            "index": self.index_file,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "pages": self.pages,
            "bytes": self.size,
            "index_bytes": self.index_size,
            "index_crc32": self.index_crc32,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentInfo:
        return cls(
            number=int(data["number"]),
            first_seq=int(data["first_seq"]),
            last_seq=int(data["last_seq"]),
            pages=int(data["pages"]),
            size=int(data["bytes"]),
            index_size=int(data["index_bytes"]),
            index_crc32=int(data["index_crc32"]),
        )


@dataclass
class Manifest:
    """What a cache holds: its segments in sequence order, and how far each stream type was replicated."""

    segments: list[SegmentInfo] = field(default_factory=list)
    positions: dict[str, TypePosition] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    updated_at: datetime | None = None

    @property
    def last_seq(self) -> int:
        return self.segments[-1].last_seq if self.segments else 0

    @property
    def next_segment(self) -> int:
        return self.segments[-1].number + 1 if self.segments else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "last_seq": self.last_seq,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "counts": dict(self.counts),
            "segments": [s.to_json() for s in self.segments],
            "positions": {t: p.to_json() for t, p in self.positions.items()},
        }

    def dumps(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise CacheNotFoundError(directory) from None
        except OSError as error:
            raise CacheFileError("read cache manifest", path, error) from error
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as error:
            raise CacheCorruptError(path, 0, f"not valid JSON ({error})", repairable=False) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise CacheCorruptError(path, 0, f"not a {FORMAT_NAME} manifest", repairable=False)
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CacheVersionError(
                f"cache {directory} was written in format version {version!r}; this messagehandler reads up to "
                f"version {FORMAT_VERSION}: upgrade messagehandler, or replicate into a new directory"
            )
        try:
            updated = data.get("updated_at")
            return cls(
                segments=[SegmentInfo.from_json(s) for s in data["segments"]],
                positions={str(t): TypePosition.from_json(p) for t, p in data["positions"].items()},
                counts={str(t): int(n) for t, n in data.get("counts", {}).items()},
                updated_at=datetime.fromisoformat(updated) if updated else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise CacheCorruptError(
                path, 0, f"manifest field missing or malformed ({error!r})", repairable=False
            ) from None

    def touched(self) -> Manifest:
        self.updated_at = datetime.now(UTC)
        return self
