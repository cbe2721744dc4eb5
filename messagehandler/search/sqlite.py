"""The embedded search index: SQLite FTS5, in a file or in memory, no server.

Records are stored as JSON next to an FTS5 table over their text fields, ranked with FTS5's BM25.
Deleted content is overwritten (`secure_delete`) and `compact` merges the full-text index, so after an
erasure (`Projector.reproject_into`) the file holds no trace of the replaced values.
SQLite calls are blocking, so every operation runs in a worker thread (`asyncio.to_thread`) behind
one lock; an upsert of many records is one transaction of a few `executemany` statements.
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

from messagehandler.projections.errors import CorruptCheckpointError
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
                PRAGMA secure_delete = ON;
                CREATE TABLE IF NOT EXISTS records (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
                CREATE VIRTUAL TABLE IF NOT EXISTS records_text USING fts5({columns}, tokenize = 'unicode61');
                """
            )
        except sqlite3.Error as error:
            raise _search_error(error, f" {os.fspath(path)}") from error
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
        """Insert or replace every record, in one transaction of a few `executemany` statements.

        Rows are numbered here, so nothing is read back per record; only ids the index already
        holds have their full-text rows deleted, and a fresh index is not searched for them at all.
        """
        dump = self._codec.dump
        fields = self.fields
        ids: list[str] = []
        bodies: list[str] = []
        texts: list[tuple[str, ...]] = []
        for stream_id, record in records.items():
            data = dump(record)
            ids.append(stream_id)
            bodies.append(json.dumps(data, separators=(",", ":")))
            texts.append(tuple(text_of(data.get(name)) for name in fields))

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                stored = _stored_rowids(db, ids)
                (last,) = db.execute("SELECT coalesce(max(rowid), 0) FROM records").fetchone()
                added: list[tuple[int, str, str]] = []
                replaced: list[tuple[str, int]] = []
                text_rows: list[tuple[object, ...]] = []
                for stream_id, body, text in zip(ids, bodies, texts, strict=True):
                    rowid = stored.get(stream_id)
                    if rowid is None:
                        last += 1
                        rowid = last
                        added.append((rowid, stream_id, body))
                    else:
                        replaced.append((body, rowid))
                    text_rows.append((rowid, *text))
                db.executemany("INSERT INTO records(rowid, id, body) VALUES (?, ?, ?)", added)
                if replaced:
                    db.executemany("UPDATE records SET body = ? WHERE rowid = ?", replaced)
                    db.executemany("DELETE FROM records_text WHERE rowid = ?", [(rowid,) for _, rowid in replaced])
                db.executemany(self._insert_text, text_rows)

        await self._run(write)

    async def delete(self, ids: Iterable[str]) -> None:
        keys = [(stream_id,) for stream_id in ids]

        def remove(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.executemany("DELETE FROM records_text WHERE rowid = (SELECT rowid FROM records WHERE id = ?)", keys)
                db.executemany("DELETE FROM records WHERE id = ?", keys)

        await self._run(remove)

    async def compact(self) -> None:
        """Merge the full-text index so replaced and deleted text leaves no trace in the file.

        The index keeps a replaced record's words in its older segments until they are merged, and
        freed pages are zeroed (`secure_delete`), so after an erasure this leaves no plaintext of the
        old record in the database file. It rewrites the whole full-text index: call it after a batch.
        """

        def optimize(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO records_text(records_text) VALUES ('optimize')")

        await self._run(optimize)

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

        return [SearchResult(i, float(s), self._record(i, b)) for i, b, s in await self._run(query)]

    async def get(self, id: str) -> R | None:
        row = await self._run(lambda db: db.execute("SELECT body FROM records WHERE id = ?", (id,)).fetchone())
        return None if row is None else self._record(id, row[0])

    def _record(self, id: str, body: str) -> R:
        """A stored record; one that does not read as the record type (changed by another tool) is a typed error."""
        try:
            return self._codec.load(json.loads(body))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, CorruptCheckpointError) as error:
            raise SearchIndexError(
                f"SQLite index: record {id!r} does not read as a {self.record_type.__qualname__}: "
                f"{type(error).__name__}: {error}"
            ) from error

    async def count(self) -> int:
        row = await self._run(lambda db: db.execute("SELECT count(*) FROM records").fetchone())
        return int(row[0])

    async def close(self) -> None:
        await self._run(lambda db: db.close())

    async def __aenter__(self) -> SqliteSearchIndex[R]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _stored_rowids(db: sqlite3.Connection, ids: list[str]) -> dict[str, int]:
    """The rowids of those of `ids` the index already holds; no lookup at all while it is empty."""
    if db.execute("SELECT 1 FROM records LIMIT 1").fetchone() is None:
        return {}
    found: dict[str, int] = {}
    for start in range(0, len(ids), _IDS_PER_LOOKUP):
        chunk = ids[start : start + _IDS_PER_LOOKUP]
        marks = ", ".join("?" * len(chunk))
        found.update(db.execute(f"SELECT id, rowid FROM records WHERE id IN ({marks})", chunk))  # noqa: S608
    return found


_IDS_PER_LOOKUP = 500
"""Below SQLite's smallest limit on parameters per statement (999 before 3.32)."""


def _search_error(error: sqlite3.Error, where: str = "") -> SearchIndexError:
    """A locked or busy database file is worth retrying; any other SQLite failure is the index's own."""
    text = str(error)
    if isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return SearchIndexUnavailableError(f"SQLite index{where} is busy: {text}", service="SQLite index")
    return SearchIndexError(f"SQLite index{where} failed: {type(error).__name__}: {text}")
