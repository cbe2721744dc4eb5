"""Checkpoints of read models: records and the position they have seen, stored as one document.

A checkpoint is encoded in one synchronous step, so the records and the position always describe
the same moment even while new events keep arriving. Where it is kept is a `CheckpointStore`: a
local file (`FileCheckpointStore`) or an Azure table (`messagehandler.projections.table_store`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from messagehandler.errors import ConfigurationError
from messagehandler.eventsource.positions import TypePosition
from messagehandler.files import file_errors, write_atomic
from messagehandler.projections.errors import CheckpointFileError, CorruptCheckpointError
from messagehandler.projections.file_swap import swap_file, tag_of
from messagehandler.projections.records import codec_for
from messagehandler.projections.version import CHECKPOINT_FORMAT

R = TypeVar("R")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(
            f"checkpoint name {name!r} is not valid: 1 to 200 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return name


def default_name(stream_type: str, record_type: type[Any]) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{stream_type}.{record_type.__qualname__}")


class CheckpointStore(Protocol):
    """Somewhere to keep checkpoint documents by name; a write replaces the old document atomically."""

    async def read(self, name: str) -> bytes | None:
        """The document, None when there is none; CorruptCheckpointError when it is damaged."""
        ...

    async def write(self, name: str, data: bytes) -> None: ...


@runtime_checkable
class ConditionalStore(CheckpointStore, Protocol):
    """A store that can replace a document only if nobody replaced it since it was read (compare-and-swap)."""

    async def read_tagged(self, name: str) -> tuple[bytes | None, str | None]:
        """The document and its tag (None for both when there is none)."""
        ...

    async def write_if(self, name: str, data: bytes, tag: str | None) -> bool:
        """Write when the document still has `tag` (None: still none); False, writing nothing, when it changed."""
        ...


@dataclass
class Checkpoint(Generic[R]):
    version: str
    position: TypePosition
    records: dict[str, R]


def encode(
    version: str, stream_type: str, record_type: type[R], position: TypePosition, records: dict[str, R]
) -> bytes:
    dump = codec_for(record_type).dump
    document = {
        "format": CHECKPOINT_FORMAT,
        "version": version,
        "stream_type": stream_type,
        "record_type": f"{record_type.__module__}.{record_type.__qualname__}",
        "position": position.to_json(),
        "records": {stream_id: dump(record) for stream_id, record in records.items()},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def peek_version(data: bytes) -> str:
    """The version of a document; CorruptCheckpointError when it is not a checkpoint."""
    return str(_document(data)["version"])


def decode(data: bytes, record_type: type[R]) -> Checkpoint[R]:
    document = _document(data)
    load = codec_for(record_type).load
    try:
        position = TypePosition.from_json(document["position"])
        records = {str(stream_id): load(value) for stream_id, value in document["records"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CorruptCheckpointError(f"checkpoint content is malformed: {error!r}") from None
    return Checkpoint(str(document["version"]), position, records)


def _document(data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise CorruptCheckpointError(f"checkpoint is not valid JSON: {error!r}") from None
    if not isinstance(document, dict) or "version" not in document or "records" not in document:
        raise CorruptCheckpointError("checkpoint lacks a version or records")
    if document.get("format") != CHECKPOINT_FORMAT:
        raise CorruptCheckpointError(f"checkpoint format {document.get('format')!r} is not {CHECKPOINT_FORMAT}")
    return document


class FileCheckpointStore:
    """Checkpoints as `{name}.checkpoint.json` files in one directory.

    A write goes to a temporary file in the same directory, is flushed to disk (fsync) and renamed
    over the old file, and the directory is synced: a crash leaves the old checkpoint or the new one,
    never half of one. File I/O runs in a worker thread.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}.checkpoint.json"

    async def read(self, name: str) -> bytes | None:
        """The checkpoint document, None when there is none.

        Raises:
            CheckpointFileError: the file or its directory cannot be read (names the path; the remedy
                says whether to fix the configuration or retry later).
        """
        return await asyncio.to_thread(self._read, self.path(name))

    async def write(self, name: str, data: bytes) -> None:
        """Replace the checkpoint document atomically, creating the directory when missing.

        Raises:
            CheckpointFileError: the directory cannot be created or the file cannot be written.
        """
        await asyncio.to_thread(self._write, self.path(name), data)

    async def read_tagged(self, name: str) -> tuple[bytes | None, str | None]:
        data = await self.read(name)
        return data, tag_of(data)

    async def write_if(self, name: str, data: bytes, tag: str | None) -> bool:
        """Compare-and-swap under a lock file's `flock` (see `messagehandler.projections.file_swap`).

        Raises:
            CheckpointFileError: the directory, the lock file or the document cannot be written.
        """
        return await asyncio.to_thread(self._swap, self.path(name), data, tag)

    @staticmethod
    def _swap(path: Path, data: bytes, tag: str | None) -> bool:
        with file_errors("write checkpoint", path, CheckpointFileError):
            return swap_file(path, data, tag)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        with file_errors("read checkpoint", path, CheckpointFileError):
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        with file_errors("create checkpoint directory", path.parent, CheckpointFileError):
            path.parent.mkdir(parents=True, exist_ok=True)
        with file_errors("write checkpoint", path, CheckpointFileError):
            write_atomic(path, data)
