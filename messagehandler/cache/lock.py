"""One writer per cache directory, enforced with an OS file lock that dies with its process.

An advisory `flock` rather than a lock file's existence: a replicator killed mid-run must not leave
the directory locked for the next one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from messagehandler.cache.errors import CacheFileError, CacheLockedError
from messagehandler.files import file_errors

LOCK_FILE = ".lock"


@contextlib.contextmanager
def writer_lock(directory: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks; one writer is the operator's duty
        yield
        return
    with file_errors("open the writer lock", directory / LOCK_FILE, CacheFileError):
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CacheLockedError(f"another replicator is writing to {directory}; wait for it to finish") from None
        yield
    finally:
        os.close(fd)
