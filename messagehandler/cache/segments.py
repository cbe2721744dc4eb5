"""Writing a segment page by page, and reading its pages back with every check the format allows."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from messagehandler.cache.codec import DecodeError, decode, encode
from messagehandler.cache.errors import CacheCorruptError, CacheFileError
from messagehandler.cache.format import (
    PAGE_HEADER,
    ROW_FIELDS,
    SEGMENT_HEADER,
    PageHeader,
    SegmentInfo,
    check_page,
    check_segment_header,
    index_name,
    page_bytes,
    parse_page_header,
    segment_header,
    segment_name,
)
from messagehandler.cache.raw import RawEvent, Row
from messagehandler.files import commit_file, file_errors, temp_path, write_atomic

Run = tuple[str, str, int, int, int]
"""A stream's contiguous events within one page: stream_type, stream_id, first version, last version, first seq."""


@dataclass(frozen=True, slots=True)
class PageEntry:
    """Where a page lives and which stream versions it holds: enough to find or re-fetch it."""

    offset: int
    length: int
    first_seq: int
    count: int
    runs: tuple[Run, ...]

    def to_row(self) -> list[Any]:
        return [self.offset, self.length, self.first_seq, self.count, [list(r) for r in self.runs]]

    @classmethod
    def from_row(cls, row: Any) -> PageEntry:
        offset, length, first_seq, count, runs = row
        return cls(
            offset, length, first_seq, count, tuple((str(a), str(b), int(c), int(d), int(e)) for a, b, c, d, e in runs)
        )


def encode_page(rows: list[RawEvent]) -> tuple[bytes, tuple[Run, ...]]:
    """The page's bytes (header + compressed rows) and its stream runs for the index."""
    runs: list[list[Any]] = []
    for row in rows:
        last = runs[-1] if runs else None
        if last is not None and last[0] == row.stream_type and last[1] == row.stream_id and last[3] + 1 == row.version:
            last[3] = row.version
        else:
            runs.append([row.stream_type, row.stream_id, row.version, row.version, row.seq])
    data = page_bytes(rows[0].seq, len(rows), encode([tuple(r) for r in rows]))
    return data, tuple((a, b, c, d, e) for a, b, c, d, e in runs)


class SegmentWriter:
    """Appends pages to a temporary file; `finish` makes it a committed-to-be segment plus its index."""

    def __init__(self, directory: Path, number: int, *, page_events: int, page_bytes: int) -> None:
        self.directory = directory
        self.number = number
        self._page_events = page_events
        self._page_bytes = page_bytes
        self._target = directory / segment_name(number)
        self._temp = temp_path(self._target)
        with self._errors():
            self._handle: BinaryIO = open(self._temp, "wb")  # noqa: SIM115 - closed by finish or abort
            header = segment_header()
            self._handle.write(header)
        self.size = len(header)
        self._pages: list[PageEntry] = []
        self._rows: list[RawEvent] = []
        self._row_bytes = 0
        self.first_seq = 0
        self.last_seq = 0

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return file_errors("write segment", self._target, CacheFileError)

    @property
    def events(self) -> int:
        return self.last_seq - self.first_seq + 1 if self.first_seq else 0

    def add(self, row: RawEvent) -> None:
        if not self.first_seq:
            self.first_seq = row.seq
        self.last_seq = row.seq
        self._rows.append(row)
        self._row_bytes += len(row.body) + 128
        if len(self._rows) >= self._page_events or self._row_bytes >= self._page_bytes:
            self.flush_page()

    def flush_page(self) -> None:
        if not self._rows:
            return
        data, runs = encode_page(self._rows)
        self.write_page(data, self._rows[0].seq, len(self._rows), runs)
        self._rows = []
        self._row_bytes = 0

    def write_page(self, data: bytes, first_seq: int, count: int, runs: tuple[Run, ...]) -> None:
        """Append an encoded page as is; repair uses this to copy intact pages verbatim."""
        with self._errors():
            self._handle.write(data)
        self._pages.append(PageEntry(self.size, len(data) - PAGE_HEADER.size, first_seq, count, runs))
        self.size += len(data)
        if not self.first_seq:
            self.first_seq = first_seq
        self.last_seq = first_seq + count - 1

    def finish(self) -> SegmentInfo:
        self.flush_page()
        index = encode([page.to_row() for page in self._pages])
        with self._errors():
            commit_file(self._handle, self._temp, self._target)
            write_atomic(self.directory / index_name(self.number), index)
        return SegmentInfo(
            number=self.number,
            first_seq=self.first_seq,
            last_seq=self.last_seq,
            pages=len(self._pages),
            size=self.size,
            index_size=len(index),
            index_crc32=zlib.crc32(index),
        )

    def abort(self) -> None:
        """Drop the temporary file; never raises, so the failure that led here is the one reported.

        What it cannot remove (a full disk failing the close, say) the next run deletes as uncommitted.
        """
        with contextlib.suppress(OSError):
            self._handle.close()
        with contextlib.suppress(OSError):
            self._temp.unlink()


def read_index(directory: Path, info: SegmentInfo) -> list[PageEntry]:
    """A segment's page index; CacheCorruptError (not repairable: repair reads the index) when it is damaged."""
    path = directory / info.index_file
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CacheCorruptError(path, 0, "page index file is missing", repairable=False) from None
    except OSError as error:
        raise CacheFileError("read page index", path, error) from error
    if len(data) != info.index_size:
        raise CacheCorruptError(
            path,
            min(len(data), info.index_size),
            f"expected {info.index_size} bytes, found {len(data)}",
            repairable=False,
        )
    if zlib.crc32(data) != info.index_crc32:
        raise CacheCorruptError(path, 0, "page index checksum mismatch", repairable=False)
    try:
        return [PageEntry.from_row(row) for row in decode(data)]
    except (DecodeError, TypeError, ValueError) as error:
        raise CacheCorruptError(path, 0, f"page index does not decode ({error})", repairable=False) from None


def open_segment(directory: Path, info: SegmentInfo) -> BinaryIO:
    """Open a committed segment, refusing it when its size differs from the manifest's record."""
    path = directory / info.file
    try:
        handle = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except FileNotFoundError:
        raise CacheCorruptError(path, 0, "segment file is missing") from None
    except OSError as error:
        raise CacheFileError("read segment", path, error) from error
    try:
        size = handle.seek(0, 2)
        if size != info.size:
            reason = "truncated" if size < info.size else "longer than committed"
            raise CacheCorruptError(path, min(size, info.size), f"{reason}: expected {info.size} bytes, found {size}")
        handle.seek(0)
        check_segment_header(path, handle.read(SEGMENT_HEADER.size))
    except BaseException as error:
        handle.close()
        if isinstance(error, OSError):
            raise CacheFileError("read segment", path, error) from error
        raise
    return handle


def decode_row_tuples(path: Path, header: PageHeader, payload: bytes) -> tuple[Row, ...]:
    """The page's rows as the plain tuples MessagePack gives, their shape and sequence numbers checked."""
    try:
        rows: tuple[Row, ...] = decode(payload)
        shape = type(rows), set(map(type, rows)), set(map(len, rows))
    except (DecodeError, TypeError) as error:
        raise CacheCorruptError(path, header.offset, f"page does not decode ({error})") from None
    if shape != (tuple, {tuple}, {ROW_FIELDS}):
        raise CacheCorruptError(path, header.offset, f"page is not an array of {ROW_FIELDS}-field arrays")
    if len(rows) != header.count or rows[0][0] != header.first_seq or rows[-1][0] != header.last_seq:
        raise CacheCorruptError(path, header.offset, "page rows do not match its header")
    return rows


_as_raw_event = partial(tuple.__new__, RawEvent)


def read_page_rows(path: Path, handle: BinaryIO, offset: int, file_size: int) -> tuple[PageHeader, tuple[Row, ...]]:
    """One page, every check made, its rows as plain tuples (what the cache source keeps)."""
    handle.seek(offset)
    head = handle.read(PAGE_HEADER.size)
    header = parse_page_header(path, offset, head, file_size)
    payload = handle.read(header.length)
    check_page(path, header, head, payload)
    return header, decode_row_tuples(path, header, payload)


def iter_rows(directory: Path, info: SegmentInfo, after: int) -> Iterator[RawEvent]:
    """Events of one segment with seq > `after`; pages wholly before it are skipped unread."""
    path = directory / info.file
    handle = open_segment(directory, info)
    with handle, file_errors("read segment", path, CacheFileError):
        offset = handle.tell()
        expected = info.first_seq
        while offset < info.size:
            handle.seek(offset)
            head = handle.read(PAGE_HEADER.size)
            header = parse_page_header(path, offset, head, info.size)
            if header.first_seq != expected:
                raise CacheCorruptError(path, offset, f"page starts at seq {header.first_seq}, expected {expected}")
            expected = header.last_seq + 1
            offset = header.end
            if header.last_seq <= after:
                continue
            payload = handle.read(header.length)
            check_page(path, header, head, payload)
            rows = decode_row_tuples(path, header, payload)
            if header.first_seq <= after:
                rows = rows[after - header.first_seq + 1 :]
            yield from map(_as_raw_event, rows)  # one at a time: each dies young, the collector barely sees it
        if expected != info.last_seq + 1:
            raise CacheCorruptError(path, offset, f"segment ends at seq {expected - 1}, manifest says {info.last_seq}")
