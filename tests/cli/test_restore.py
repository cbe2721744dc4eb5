"""`messagehandler restore`: the same search index from the store and from a cache."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from messagehandler import EventTypeRegistry
from messagehandler.projections import Projector
from messagehandler.search import SqliteSearchIndex
from samples.organization.search import SearchEntry, SearchEntryProjection
from tests.cache.support import ORG
from tests.cli.test_cli import env, run, store

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

__all__ = ["env", "store"]

pytestmark = pytest.mark.azurite

PROJECTION = "samples.organization.search:SearchEntryProjection"


def indexed(path: Path, ids: list[str]) -> dict[str, SearchEntry | None]:
    async def read() -> dict[str, SearchEntry | None]:
        index = SqliteSearchIndex(SearchEntry, path)
        try:
            return {i: await index.get(i) for i in ids}
        finally:
            await index.close()

    return asyncio.run(read())


async def _expected(connection_string: str, table: str) -> dict[str, SearchEntry]:
    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
    from samples.organization import OrganizationRegistered, OrganizationRenamed

    registry = EventTypeRegistry([OrganizationRegistered, OrganizationRenamed])
    async with AzureTableStorageEventSource.from_connection_string(connection_string, table, registry=registry) as src:
        return await Projector(src, SearchEntryProjection).restore(SearchEntry, ORG)


def test_restore_from_the_store_and_from_the_cache_gives_the_same_index(
    azurite: AzuriteProcess, env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    assert run(capsys, "replicate", ORG, "Person", "--cache", cache)[0] == 0

    code, out, _ = run(capsys, "restore", ORG, "--projection", PROJECTION, "--index", tmp_path / "store.db")
    assert code == 0
    assert "restored 2 SearchEntry records of Organization from the store" in out
    code, out, _ = run(
        capsys, "restore", ORG, "--projection", PROJECTION, "--index", tmp_path / "cache.db", "--cache", cache
    )
    assert code == 0

    expected = asyncio.run(_expected(azurite.connection_string, env))
    from_store = indexed(tmp_path / "store.db", ["a", "b"])
    assert from_store == indexed(tmp_path / "cache.db", ["a", "b"])
    assert from_store == expected
    assert expected["a"].former_names == ["a 1", "a 2"]


@pytest.mark.parametrize(
    ("projection", "message"),
    [
        ("samples.organization.search", "must look like"),
        ("no.such.module:Thing", "cannot import module"),
        ("samples.organization.search:SearchEntry", "is not a Projection subclass"),
    ],
)
def test_a_bad_projection_path_is_bad_input(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], projection: str, message: str
) -> None:
    code, _, err = run(capsys, "restore", ORG, "--projection", projection, "--index", tmp_path / "x.db")

    assert code == 2
    assert message in err
