"""The embedded FTS5 index: upsert replaces, words must all match as prefixes, ranking, delete, persistence."""

from __future__ import annotations

import dataclasses
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

    with pytest.raises(SearchIndexError, match="SQLite index failed"):
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
