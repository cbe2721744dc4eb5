"""Compare-and-swap of a checkpoint file: replaced only when nobody replaced it since it was read.

The tag of a file is the SHA-256 of its content, so any write in between is seen without trusting
clocks or inode numbers. The check and the replacement run under an advisory `flock` on a lock file
beside the document, which dies with its process: a writer killed while holding it blocks nobody.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from messagehandler.files import write_atomic


def tag_of(data: bytes | None) -> str | None:
    """The tag of a document as read; None for a document that does not exist."""
    return None if data is None else hashlib.sha256(data).hexdigest()


def swap_file(path: Path, data: bytes, tag: str | None) -> bool:
    """Write `data` to `path` when its content still has `tag` (None: when it still does not exist).

    Returns False, writing nothing, when another writer changed the file since the tag was taken.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(f".{path.name}.lock")):
        try:
            current = tag_of(path.read_bytes())
        except FileNotFoundError:
            current = None
        if current != tag:
            return False
        write_atomic(path, data)
        return True


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if sys.platform == "win32":  # pragma: no cover - a byte-range lock, which msvcrt retries for 10 s
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
