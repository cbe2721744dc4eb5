"""Shared helpers of the cache tests: a populated store, and a cache read back as plain tuples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from messagehandler import EventSource
from messagehandler.cache import CacheReader, CacheReplicator
from samples.organization import OrganizationRegistered, OrganizationRenamed
from tests.support.history import ORG, history

__all__ = ["ORG", "cached", "files", "fill", "history", "register", "replicator"]


def register(source: EventSource) -> None:
    source.registry.register(OrganizationRegistered, OrganizationRenamed)


async def fill(source: EventSource, streams: dict[str, int], *, stream_type: str = ORG) -> None:
    """Append `count` events to each stream, continuing streams that already hold events."""
    for stream_id, count in streams.items():
        have = len(await source.load(stream_type, stream_id))
        await source.append(
            stream_type, stream_id, have, history(stream_id, count, start_version=have + 1, stream_type=stream_type)
        )


def replicator(source: EventSource, path: Path, **options: Any) -> CacheReplicator:
    options.setdefault("page_events", 4)
    return CacheReplicator(source, path, **options)


def cached(path: Path, start: int = 0) -> list[tuple[int, str, int]]:
    return [(e.seq, e.stream_id, e.version) for e in CacheReader(path).events(start)]


def files(path: Path, pattern: str) -> list[str]:
    return sorted(p.name for p in path.glob(pattern))
