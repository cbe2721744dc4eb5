"""The `SearchIndex` protocol: where restored records go to be found by text.

Records are keyed by their stream id, so the output of `Projector.restore` can be upserted as it
is: `await index.upsert(await projector.restore(SearchEntry, "Organization"))`. A query is plain
words, never a query language: every word must match (a prefix of) a word of a searchable field,
so results do not depend on which index runs underneath.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class SearchResult(Generic[R]):
    """One hit: higher `score` is a better match (scores are comparable within one query only)."""

    id: str
    score: float
    record: R


class SearchIndex(Protocol[R]):
    """Records of one type, upserted by id and searched by text."""

    async def upsert(self, records: Mapping[str, R]) -> None:
        """Insert or replace every record; a record that is not stored after the call raises SearchIndexError."""
        ...

    async def delete(self, ids: Iterable[str]) -> None:
        """Remove records; ids that are not there are ignored."""
        ...

    async def search(self, text: str, *, top: int = 10) -> list[SearchResult[R]]:
        """Best matches first; `*` matches every record."""
        ...

    async def get(self, id: str) -> R | None: ...

    async def close(self) -> None: ...
