"""Durable file replacement, shared by the event cache and projection checkpoints.

A reader sees the old file or the new one, never half of either.

Write to a temporary name in the same directory, fsync it, rename over the target, then fsync the
directory so the rename itself survives a power cut. Temporary names start with a dot and end in
`.tmp`, so a replicator that finds them after a crash knows they were never committed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from messagehandler.errors import LocalFileError

TEMP_SUFFIX = ".tmp"


def temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")


def fsync_directory(directory: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory; NTFS journals renames itself
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_file(handle: BinaryIO, temp: Path, target: Path) -> None:
    """Make an open temporary file durable and move it to its final name."""
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    os.replace(temp, target)


def write_atomic(target: Path, data: bytes) -> None:
    temp = temp_path(target)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    fsync_directory(target.parent)


@contextlib.contextmanager
def file_errors(
    operation: str, path: str | os.PathLike[str], error: type[LocalFileError] = LocalFileError, *, subject: str = ""
) -> Iterator[None]:
    """Raise what the block's file system calls raise (`OSError`) as `error`, naming the path and the operation.

    The one mapping of local I/O failures, as `azure_errors` is for the SDKs: the OS error is chained,
    and its number chooses the remedy (see `LocalFileError`).
    """
    try:
        yield
    except OSError as cause:
        raise error(operation, path, cause, subject=subject) from cause


def is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)
