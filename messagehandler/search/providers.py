"""Index providers: one physical index per read model version, for rebuilds beside the live index.

`SqliteIndexes` keeps each index as `{name}.sqlite` in one directory. For Azure AI Search, implement
`IndexProvider` (`messagehandler.projections.live`) with the index definition of your deployment:
`open` creates the index when missing, `drop` deletes it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Generic, TypeVar

from messagehandler.files import file_errors
from messagehandler.search.errors import SearchIndexFileError
from messagehandler.search.sqlite import SqliteSearchIndex

R = TypeVar("R")


class SqliteIndexes(Generic[R]):
    """SQLite FTS5 indexes of one record type, one file per version, in `directory` (created when missing)."""

    def __init__(
        self, record_type: type[R], directory: str | os.PathLike[str], *, fields: Sequence[str] | None = None
    ) -> None:
        self.record_type = record_type
        self.directory = Path(directory)
        self.fields = fields

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.sqlite"

    async def open(self, name: str) -> SqliteSearchIndex[R]:
        """The index `name`, created with its directory when missing.

        Raises:
            SearchIndexFileError: the directory cannot be created (names it; the remedy says what to fix).
            SearchIndexError: SQLite cannot open the file.
        """
        with file_errors("create index directory", self.directory, SearchIndexFileError):
            self.directory.mkdir(parents=True, exist_ok=True)
        return await asyncio.to_thread(SqliteSearchIndex, self.record_type, self.path(name), fields=self.fields)

    async def drop(self, name: str) -> None:
        """Delete the index's files; a reader that still has it open finishes on the deleted file.

        Raises:
            SearchIndexFileError: a file cannot be removed.
        """
        await asyncio.to_thread(self._unlink, self.path(name))

    @staticmethod
    def _unlink(path: Path) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            file = Path(f"{path}{suffix}")
            with file_errors("delete index file", file, SearchIndexFileError):
                file.unlink(missing_ok=True)
