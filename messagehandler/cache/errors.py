"""Errors of the event cache, each naming the file (and where it matters the byte offset) at fault.

An operator meets these on a terminal far from the code: the message must say which file to look at
and what to do about it (repair, re-replicate, upgrade).
"""

from __future__ import annotations

from pathlib import Path

from messagehandler.errors import LocalFileError, MessageHandlerError, Remedy


class CacheError(MessageHandlerError):
    """Root of every cache error."""


class CacheNotFoundError(CacheError):
    """The directory holds no cache manifest."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(f"{directory} is not an event cache: it has no manifest.json (run `replicate` first)")


class CacheVersionError(CacheError):
    """The cache was written by a newer (or unknown) format version than this reader understands."""


class CacheCorruptError(CacheError):
    """A cache file is truncated or its bytes do not match their checksum; nothing from it is trusted.

    `repairable` says whether `messagehandler replicate --repair` fixes it: a damaged segment or page
    is re-fetched from the store by its page index, but the manifest and the page indexes are what
    repair reads to know what to fetch, so their damage takes a fresh replication (the message says so).
    """

    remedy = Remedy.INSPECT

    def __init__(self, path: Path, offset: int, reason: str, *, repairable: bool = True) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        self.repairable = repairable
        advice = (
            "run `messagehandler replicate --repair` to re-fetch the damaged pages from the store"
            if repairable
            else f"repair cannot rebuild this file: delete the cache directory {path.parent} and run "
            "`messagehandler replicate` into it again"
        )
        super().__init__(f"cache file {path} is corrupt at byte offset {offset}: {reason} ({advice})")


class CacheFileError(CacheError, LocalFileError):
    """A cache file or directory could not be read or written; names the path and the operation."""


class CacheLockedError(CacheError):
    """Another replicator is writing to the same cache directory."""


class CacheRepairError(CacheError):
    """A damaged page could not be rebuilt from the store."""
