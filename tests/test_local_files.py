"""Every file-backed store and writer: a failure of the local file system is its part's typed error.

The class under test is "local I/O raises a raw `OSError`": each store or writer that touches local
files (checkpoints, positions kept in checkpoint files, the event cache, the SQLite index provider)
is run against a directory that cannot work, and must raise a `LocalFileError` of its own part that
names the path and the operation, says to fix the configuration, and chains the `OSError`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from messagehandler import InMemoryEventSource, LocalFileError, Remedy
from messagehandler.cache import CacheError, CacheEventSource, CacheFileError, CacheReader, CacheReplicator
from messagehandler.cache.segments import SegmentWriter
from messagehandler.eventsource.positions import TypePosition
from messagehandler.files import file_errors
from messagehandler.processing import DocumentPositionStore
from messagehandler.projections import CheckpointError, CheckpointFileError, FileCheckpointStore
from messagehandler.search import SearchIndexError, SearchIndexFileError
from messagehandler.search.providers import SqliteIndexes
from samples.organization.search import SearchEntry
from tests.cache.support import ORG, fill, register


@dataclass(frozen=True)
class Part:
    """One file-backed operation: run it on a configured directory; it fails with `error`, part of `family`."""

    run: Callable[[Path], Awaitable[object]]
    error: type[LocalFileError]
    family: type[Exception]
    target: str | None
    """The file it reads or writes in the directory; None when it only needs the directory."""


async def _source() -> InMemoryEventSource:
    source = InMemoryEventSource()
    register(source)
    await fill(source, {"a": 3})
    return source


async def _replicate(directory: Path) -> object:
    return await CacheReplicator(await _source(), directory).replicate([ORG])


async def _repair(directory: Path) -> object:
    return await CacheReplicator(await _source(), directory).repair()


PARTS = {
    "checkpoint write": Part(
        lambda d: FileCheckpointStore(d).write("cp", b"{}"), CheckpointFileError, CheckpointError, "cp.checkpoint.json"
    ),
    "checkpoint read": Part(
        lambda d: FileCheckpointStore(d).read("cp"), CheckpointFileError, CheckpointError, "cp.checkpoint.json"
    ),
    "checkpoint compare-and-swap": Part(
        lambda d: FileCheckpointStore(d).write_if("cp", b"{}", None),
        CheckpointFileError,
        CheckpointError,
        "cp.checkpoint.json",
    ),
    "position save": Part(
        lambda d: DocumentPositionStore(FileCheckpointStore(d)).save("feed", TypePosition()),
        CheckpointFileError,
        CheckpointError,
        "position-feed.checkpoint.json",
    ),
    "position load": Part(
        lambda d: DocumentPositionStore(FileCheckpointStore(d)).load("feed"),
        CheckpointFileError,
        CheckpointError,
        "position-feed.checkpoint.json",
    ),
    "cache replicate": Part(_replicate, CacheFileError, CacheError, "manifest.json"),
    "cache repair": Part(_repair, CacheFileError, CacheError, "manifest.json"),
    "sqlite index open": Part(
        lambda d: SqliteIndexes(SearchEntry, d).open("entries"), SearchIndexFileError, SearchIndexError, None
    ),
    "sqlite index drop": Part(
        lambda d: SqliteIndexes(SearchEntry, d).drop("entries"), SearchIndexFileError, SearchIndexError, None
    ),
}


def _a_file(tmp_path: Path) -> Path:
    path = tmp_path / "plain-file"
    path.write_text("not a directory")
    return path


@pytest.fixture
def unreadable_directory(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() == 0:
        pytest.skip("root reads and writes whatever the permissions say")
    directory = tmp_path / "locked"
    directory.mkdir()
    directory.chmod(0)
    yield directory
    directory.chmod(0o700)


SCENARIOS: dict[str, Callable[[Path], Path]] = {
    "the directory is a file": _a_file,
    "the directory is under a file": lambda tmp_path: _a_file(tmp_path) / "cache",
}


def _check(caught: pytest.ExceptionInfo[BaseException], part: Part, path: Path) -> None:
    error = caught.value
    assert isinstance(error, part.error)
    assert isinstance(error, part.family)
    assert isinstance(error, LocalFileError)
    assert error.remedy is Remedy.FIX_CONFIGURATION
    assert not error.retryable
    assert isinstance(error.__cause__, OSError)
    assert str(path) in str(error)
    assert error.operation in str(error)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name", PARTS)
async def test_a_directory_that_cannot_be_one_is_a_typed_error(tmp_path: Path, name: str, scenario: str) -> None:
    part = PARTS[name]
    directory = SCENARIOS[scenario](tmp_path)

    with pytest.raises(part.error) as caught:
        await part.run(directory)

    _check(caught, part, directory)


@pytest.mark.parametrize("name", [name for name, part in PARTS.items() if part.target is not None])
async def test_a_directory_where_the_file_belongs_is_a_typed_error(tmp_path: Path, name: str) -> None:
    part = PARTS[name]
    assert part.target is not None
    (tmp_path / part.target).mkdir()

    with pytest.raises(part.error) as caught:
        await part.run(tmp_path)

    _check(caught, part, tmp_path / part.target)
    assert caught.value.errno == errno.EISDIR


@pytest.mark.parametrize("name", PARTS)
async def test_a_directory_without_permission_is_a_typed_error(unreadable_directory: Path, name: str) -> None:
    part = PARTS[name]

    with pytest.raises(part.error) as caught:
        await part.run(unreadable_directory)

    _check(caught, part, unreadable_directory)
    assert caught.value.errno == errno.EACCES


async def test_a_segment_that_cannot_be_committed_is_a_typed_error_and_leaves_the_cache_as_it_was(
    tmp_path: Path,
) -> None:
    (tmp_path / "segment-00000001.mhc").mkdir()

    with pytest.raises(CacheFileError, match=r"cannot write segment .*segment-00000001\.mhc") as caught:
        await _replicate(tmp_path)

    assert caught.value.errno == errno.EISDIR
    assert not (tmp_path / "manifest.json").exists()


async def test_a_cache_whose_segment_cannot_be_opened_is_a_typed_error_for_every_reader(tmp_path: Path) -> None:
    await _replicate(tmp_path)
    segment = tmp_path / "segment-00000001.mhc"
    size = segment.stat().st_size
    segment.unlink()
    segment.mkdir()
    segment_info = CacheReader(tmp_path).segments[0]
    assert segment_info.size == size

    with pytest.raises(CacheFileError, match="cannot read segment"):
        list(CacheReader(tmp_path).events())
    async with CacheEventSource(tmp_path) as cache:
        with pytest.raises(CacheFileError, match="cannot read segment"):
            await cache.load(ORG, "a")


def test_a_writer_that_cannot_create_its_file_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(CacheFileError, match="cannot write segment"):
        SegmentWriter(_a_file(tmp_path), 1, page_events=10, page_bytes=1000)


@pytest.mark.parametrize(
    ("number", "remedy", "advice"),
    [
        pytest.param(number, remedy, advice, id=errno.errorcode[number])
        for number, remedy, advice in [
            (errno.ENOSPC, Remedy.FIX_CONFIGURATION, "volume is full"),
            (errno.EACCES, Remedy.FIX_CONFIGURATION, "permission"),
            (errno.EROFS, Remedy.FIX_CONFIGURATION, "read-only"),
            (errno.ENOTDIR, Remedy.FIX_CONFIGURATION, "is a file where a directory is expected"),
            (errno.EIO, Remedy.RETRY_LATER, "retry later"),
            (errno.EMFILE, Remedy.RETRY_LATER, "retry later"),
            (errno.EXDEV, Remedy.INSPECT, "look at the file"),
        ]
    ],
)
def test_the_os_error_number_chooses_the_remedy(number: int, remedy: Remedy, advice: str) -> None:
    with pytest.raises(CacheFileError) as caught, file_errors("write segment", Path("/cache/x"), CacheFileError):
        raise OSError(number, os.strerror(number), "/cache/.x.tmp")

    error = caught.value
    assert error.remedy is remedy
    assert error.retryable is (remedy is Remedy.RETRY_LATER)
    assert error.errno == number
    assert advice in str(error)
    assert str(error).startswith(f"cannot write segment /cache/x (at /cache/.x.tmp): {os.strerror(number)}")
