"""The embedded search index: SQLite FTS5, in a file or in memory, no server.

Records are stored as JSON next to an FTS5 table over their text fields, ranked with FTS5's BM25.
SQLite calls are blocking, so every operation runs in a worker thread (`asyncio.to_thread`) behind
one lock; an upsert of many records is one transaction, so a restore of 50,000 records is one commit.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

from messagehandler.projections.records import codec_for
from messagehandler.search.errors import SearchIndexError, SearchIndexUnavailableError
from messagehandler.search.fields import text_fields, text_of
from messagehandler.search.protocol import SearchResult

R = TypeVar("R")
T = TypeVar("T")

_WORD = re.compile(r"\w+")


def match_expression(text: str) -> str | None:
    """Plain words -> an FTS5 query where every word must match a prefix; None for 'everything'."""
    words = _WORD.findall(text)
    if not words:
        return None
    return " AND ".join(f'"{word}"*' for word in words)


class SqliteSearchIndex(Generic[R]):
    """Implements `SearchIndex` on SQLite FTS5; `path` is a file, or `:memory:` for a throwaway index."""

    def __init__(
        self, record_type: type[R], path: str | os.PathLike[str] = ":memory:", *, fields: Sequence[str] | None = None
    ) -> None:
        self.record_type = record_type
        self.fields = text_fields(record_type, fields)
        self._codec = codec_for(record_type)
        self._lock = threading.Lock()
        columns = ", ".join(f'"{name}"' for name in self.fields)
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.executescript(
                f"""
                CREATE TABLE IF NOT EXISTS records (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
                CREATE VIRTUAL TABLE IF NOT EXISTS records_text USING fts5({columns}, tokenize = 'unicode61');
                """
            )
        except sqlite3.Error as error:
            raise _search_error(error) from error
        self._insert_text = (
            f"INSERT INTO records_text(rowid, {columns}) VALUES (?, {', '.join('?' * len(self.fields))})"  # noqa: S608
        )

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return work(self._db)

        try:
            return await asyncio.to_thread(locked)
        except sqlite3.Error as error:
            raise _search_error(error) from error

    async def upsert(self, records: Mapping[str, R]) -> None:
        dump = self._codec.dump
        rows = []
        for stream_id, record in records.items():
            data = dump(record)
            texts = [text_of(data.get(name)) for name in self.fields]
            rows.append((stream_id, json.dumps(data, separators=(",", ":")), texts))

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                for stream_id, body, texts in rows:
                    (rowid,) = db.execute(
                        "INSERT INTO records(id, body) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body "
                        "RETURNING rowid",
                        (stream_id, body),
                    ).fetchone()
                    db.execute("DELETE FROM records_text WHERE rowid = ?", (rowid,))
                    db.execute(self._insert_text, (rowid, *texts))

        await self._run(write)

    async def delete(self, ids: Iterable[str]) -> None:
        keys = [(stream_id,) for stream_id in ids]

        def remove(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.executemany("DELETE FROM records_text WHERE rowid = (SELECT rowid FROM records WHERE id = ?)", keys)
                db.executemany("DELETE FROM records WHERE id = ?", keys)

        await self._run(remove)

    async def search(self, text: str, *, top: int = 10) -> list[SearchResult[R]]:
        expression = match_expression(text)

        def query(db: sqlite3.Connection) -> list[tuple[str, str, float]]:
            if expression is None:
                if text.strip() != "*":
                    return []
                return db.execute("SELECT id, body, 0.0 FROM records ORDER BY id LIMIT ?", (top,)).fetchall()
            return db.execute(
                "SELECT r.id, r.body, -bm25(records_text) AS score FROM records_text JOIN records r "
                "ON r.rowid = records_text.rowid WHERE records_text MATCH ? ORDER BY score DESC, r.id LIMIT ?",
                (expression, top),
            ).fetchall()

        load = self._codec.load
        return [SearchResult(i, float(s), load(json.loads(b))) for i, b, s in await self._run(query)]

    async def get(self, id: str) -> R | None:
        row = await self._run(lambda db: db.execute("SELECT body FROM records WHERE id = ?", (id,)).fetchone())
        return None if row is None else self._codec.load(json.loads(row[0]))

    async def count(self) -> int:
        row = await self._run(lambda db: db.execute("SELECT count(*) FROM records").fetchone())
        return int(row[0])

    async def close(self) -> None:
        await self._run(lambda db: db.close())

    async def __aenter__(self) -> SqliteSearchIndex[R]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _search_error(error: sqlite3.Error) -> SearchIndexError:
    """A locked or busy database file is worth retrying; any other SQLite failure is the index's own."""
    text = str(error)
    if isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return SearchIndexUnavailableError(f"SQLite index is busy: {text}", service="SQLite index")
    return SearchIndexError(f"SQLite index failed: {type(error).__name__}: {text}")
