"""The embedded FTS5 index: upsert replaces, words must all match as prefixes, ranking, delete, persistence."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from pathlib import Path

import pytest

from messagehandler import ConfigurationError
from messagehandler.search import SqliteSearchIndex
from messagehandler.search.sqlite import match_expression
from samples.organization.search import SearchEntry


def entries() -> dict[str, SearchEntry]:
    return {
        "acme": SearchEntry(id="acme", name="Acme Corporation", country="BE", former_names=["Acme"]),
        "globex": SearchEntry(id="globex", name="Globex", country="US"),
        "initech": SearchEntry(id="initech", name="Initech Acme Partners"),
    }


async def test_search_finds_prefixes_of_every_word_best_match_first() -> None:
    async with SqliteSearchIndex(SearchEntry) as index:
        await index.upsert(entries())

        acme = await index.search("acme")
        assert [hit.id for hit in acme] == ["acme", "initech"]
        assert acme[0].score > acme[1].score > 0
        assert acme[0].record == entries()["acme"]
        assert [hit.id for hit in await index.search("corp acm")] == ["acme"]
        assert await index.search("acme globex") == []
        assert await index.search("") == []
        assert [hit.id for hit in await index.search("*", top=2)] == ["acme", "globex"]


async def test_upsert_replaces_the_text_and_delete_removes() -> None:
    async with SqliteSearchIndex(SearchEntry) as index:
        await index.upsert(entries())
        await index.upsert({"globex": SearchEntry(id="globex", name="Hooli")})
        await index.delete(["initech", "nobody"])

        assert await index.search("US") == []  # the old country is gone from the text
        assert [hit.id for hit in await index.search("hooli")] == ["globex"]
        assert await index.get("initech") is None
        assert await index.get("globex") == SearchEntry(id="globex", name="Hooli")
        assert await index.count() == 2


async def test_query_syntax_in_user_text_is_only_words() -> None:
    assert match_expression('acme" OR name:*') == '"acme"* AND "OR"* AND "name"*'
    async with SqliteSearchIndex(SearchEntry) as index:
        await index.upsert(entries())
        assert [hit.id for hit in await index.search('"acme" NEAR(')] == []
        assert [hit.id for hit in await index.search("Acme-Corporation!")] == ["acme"]


async def test_an_index_file_survives_a_restart(tmp_path: Path) -> None:
    async with SqliteSearchIndex(SearchEntry, tmp_path / "index.db") as index:
        await index.upsert(entries())
    async with SqliteSearchIndex(SearchEntry, tmp_path / "index.db") as index:
        assert [hit.id for hit in await index.search("globex")] == ["globex"]


class Plain:
    def __init__(self) -> None:
        self.title = ""


@dataclasses.dataclass
class Tagged:
    tags: list[str]
    count: int = 0


async def test_searchable_fields_of_plain_classes_and_dataclasses() -> None:
    with pytest.raises(ConfigurationError, match="fields="):
        SqliteSearchIndex(Plain)
    plain = Plain()
    plain.title = "hello world"
    async with SqliteSearchIndex(Plain, fields=["title"]) as index:
        await index.upsert({"p": plain})
        (hit,) = await index.search("world")
        assert hit.record.title == "hello world"
    async with SqliteSearchIndex(Tagged) as tagged:
        assert tagged.fields == ("tags",)
        await tagged.upsert({"t": Tagged(["red", "green"], 3)})
        assert (await tagged.search("gree"))[0].record == Tagged(["red", "green"], 3)


async def test_a_file_that_is_no_sqlite_database_is_a_typed_error(tmp_path: Path) -> None:
    from messagehandler.search import SearchIndexError

    path = tmp_path / "index.db"
    path.write_bytes(b"this is not a database" * 100)

    with pytest.raises(SearchIndexError, match=f"SQLite index {path} failed"):
        SqliteSearchIndex(SearchEntry, path)


async def test_a_locked_database_is_worth_retrying(tmp_path: Path) -> None:
    import sqlite3

    from messagehandler.errors import ServiceUnavailableError
    from messagehandler.search import SearchIndexUnavailableError

    path = tmp_path / "index.db"
    async with SqliteSearchIndex(SearchEntry, path) as index:
        index._db.execute("PRAGMA busy_timeout = 0")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(SearchIndexUnavailableError) as raised:
                await index.upsert(entries())
        finally:
            other.close()
        assert isinstance(raised.value, ServiceUnavailableError)


def text_rows(path: Path) -> tuple[int, int, int]:
    """Records, full-text rows, and full-text rows whose rowid names no record."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        (records,) = db.execute("SELECT count(*) FROM records").fetchone()
        (texts,) = db.execute("SELECT count(*) FROM records_text").fetchone()
        (orphans,) = db.execute(
            "SELECT count(*) FROM records_text WHERE rowid NOT IN (SELECT rowid FROM records)"
        ).fetchone()
    return records, texts, orphans


def named(prefix: str, ids: range) -> dict[str, SearchEntry]:
    return {f"org{n:05d}": SearchEntry(id=f"org{n:05d}", name=f"{prefix} {n}") for n in ids}


async def test_upserts_over_many_records_keep_exactly_one_text_row_per_record(tmp_path: Path) -> None:
    """More ids than one lookup statement holds, new and known ones mixed, after a delete freed the last row."""
    path = tmp_path / "index.db"
    async with SqliteSearchIndex(SearchEntry, path) as index:
        await index.upsert(named("Acme", range(1200)))
        await index.delete(["org01199"])
        await index.upsert({**named("Globex", range(600, 1200)), **named("Initech", range(1200, 1500))})

        assert await index.count() == 1500
        assert text_rows(path) == (1500, 1500, 0)
        assert {hit.id for hit in await index.search("acme", top=2000)} == {f"org{n:05d}" for n in range(600)}
        assert {hit.id for hit in await index.search("globex", top=2000)} == {f"org{n:05d}" for n in range(600, 1200)}
        assert [hit.id for hit in await index.search("initech 1499")] == ["org01499"]
        assert await index.get("org01199") == SearchEntry(id="org01199", name="Globex 1199")


async def test_two_indexes_on_one_file_number_their_rows_without_clashing(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    async with SqliteSearchIndex(SearchEntry, path) as first, SqliteSearchIndex(SearchEntry, path) as second:
        for start in range(0, 400, 100):
            await first.upsert(named("Acme", range(start, start + 50)))
            await second.upsert(named("Globex", range(start + 50, start + 100)))

        assert text_rows(path) == (400, 400, 0)
        assert len(await first.search("globex", top=1000)) == 200
        assert len(await second.search("acme", top=1000)) == 200


async def test_only_records_already_held_have_their_text_rows_deleted() -> None:
    """A restore into a fresh index deletes nothing; a later upsert deletes the text rows it replaces."""
    async with SqliteSearchIndex(SearchEntry) as index:
        statements: list[str] = []
        index._db.set_trace_callback(statements.append)  # the statements run are what this test is about

        await index.upsert(named("Acme", range(300)))
        on_fresh = [s for s in statements if s.startswith("DELETE")]
        statements.clear()
        await index.upsert({**named("Globex", range(250, 300)), **named("Initech", range(300, 400))})

        assert on_fresh == []
        assert len([s for s in statements if s.startswith("DELETE FROM records_text")]) == 50
        assert len([s for s in statements if s.startswith("SELECT id, rowid FROM records")]) == 1
