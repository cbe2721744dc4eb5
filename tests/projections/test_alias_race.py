"""Builders of two versions race on the alias: every write is a compare-and-swap, so no stale write wins.

Each store (the file store, and the table store on Azurite) is wrapped so that one writer stops right
after reading the alias until the test lets it go: the race is interleaved exactly, without sleeps.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from messagehandler import ConfigurationError, InMemoryEventSource
from messagehandler.projections import DurableReadModel, FileCheckpointStore, Projector
from messagehandler.projections.checkpoints import CheckpointStore, ConditionalStore
from messagehandler.projections.errors import AliasContentionError, RetiredVersionError
from messagehandler.projections.live import Alias, LiveReadModel, read_alias, update_alias
from messagehandler.search.providers import SqliteIndexes
from samples.organization import OrganizationRegistered, OrganizationRenamed
from samples.organization.search import SearchEntry, SearchEntryProjection
from tests.projections.support import ORG, register

STORES = ["file", pytest.param("table", marks=pytest.mark.azurite)]


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConditionalStore]:
    if request.param == "file":
        yield FileCheckpointStore(tmp_path / "checkpoints")
        return
    from messagehandler.projections.table_store import TableCheckpointStore

    azurite = request.getfixturevalue("azurite")
    table = request.getfixturevalue("table_name")
    async with TableCheckpointStore.from_connection_string(azurite.connection_string, table) as tables:
        yield tables
        await tables.client.delete_table()


class Held:
    """A real store whose next alias read holds its writer, between reading and writing, until `go` is set."""

    def __init__(self, inner: ConditionalStore) -> None:
        self.inner = inner
        self.holding = asyncio.Event()
        self.go = asyncio.Event()
        self.reads = 0

    async def read(self, name: str) -> bytes | None:
        return await self.inner.read(name)

    async def write(self, name: str, data: bytes) -> None:
        await self.inner.write(name, data)

    async def read_tagged(self, name: str) -> tuple[bytes | None, str | None]:
        read = await self.inner.read_tagged(name)
        self.reads += 1
        if self.reads == 1:
            self.holding.set()
            await self.go.wait()
        return read

    async def write_if(self, name: str, data: bytes, tag: str | None) -> bool:
        return await self.inner.write_if(name, data, tag)


@pytest.fixture
def source() -> InMemoryEventSource:
    events = InMemoryEventSource()
    events.registry.register(OrganizationRegistered, OrganizationRenamed)
    return events


def version(
    source: InMemoryEventSource,
    store: ConditionalStore,
    folder: Path,
    salt: str,
    *,
    alias: CheckpointStore | None = None,
) -> LiveReadModel[SearchEntry]:
    """The read model "organizations" in the version that index schema `salt` makes."""
    model = DurableReadModel(Projector(source, SearchEntryProjection), SearchEntry, ORG, store, salt=salt)
    return LiveReadModel("organizations", model, SqliteIndexes(SearchEntry, folder), store=alias)


async def built(live: LiveReadModel[SearchEntry]) -> LiveReadModel[SearchEntry]:
    await live.open()
    await live.save()
    return live


async def test_progress_read_before_a_switch_never_puts_the_replaced_version_back(
    store: ConditionalStore, source: InMemoryEventSource, tmp_path: Path
) -> None:
    await register(source, "acme")
    first = await built(version(source, store, tmp_path, "a"))
    await first.switch()
    second = await built(version(source, store, tmp_path, "b"))
    held = Held(store)
    third = await built(version(source, store, tmp_path, "c", alias=held))

    progress = asyncio.ensure_future(third.save(building=True))
    await held.holding.wait()  # the third builder has read the alias naming the first version live
    assert await second.switch() == first.version
    held.go.set()
    await progress

    alias = await read_alias(store, "organizations")
    assert alias.live == second.version
    assert alias.retired == [first.version]
    assert alias.building is not None
    assert alias.building["version"] == third.version
    assert held.reads == 2  # the lost write was re-applied to the alias the switch wrote
    assert not (tmp_path / f"{first.index_name}.sqlite").exists()


async def test_two_switches_racing_retire_both_replaced_versions_and_drop_the_right_index(
    store: ConditionalStore, source: InMemoryEventSource, tmp_path: Path
) -> None:
    await register(source, "acme")
    first = await built(version(source, store, tmp_path, "a"))
    await first.switch()
    held = Held(store)
    second = await built(version(source, store, tmp_path, "b", alias=held))
    third = await built(version(source, store, tmp_path, "c"))

    switching = asyncio.ensure_future(second.switch())
    await held.holding.wait()  # the second builder has read the alias naming the first version live
    assert await third.switch() == first.version
    held.go.set()

    assert await switching == third.version, "the switch replaced what was live when it wrote, not what it first read"
    alias = await read_alias(store, "organizations")
    assert (alias.live, alias.retired) == (second.version, [first.version, third.version])
    assert not (tmp_path / f"{third.index_name}.sqlite").exists()
    assert (tmp_path / f"{second.index_name}.sqlite").exists()
    with pytest.raises(RetiredVersionError, match="not switched back"):
        await third.switch()
    assert (await read_alias(store, "organizations")).live == second.version


async def test_a_builder_that_lost_its_lease_never_switches_a_retired_version_back(
    store: ConditionalStore, source: InMemoryEventSource, tmp_path: Path
) -> None:
    """The stalled holder of version b's lease wakes after its successor made b live and c replaced it."""
    await register(source, "acme")
    await (await built(version(source, store, tmp_path, "a"))).switch()
    held = Held(store)
    stalled = await built(version(source, store, tmp_path, "b", alias=held))
    successor = await built(version(source, store, tmp_path, "b"))
    newer = await built(version(source, store, tmp_path, "c"))

    switching = asyncio.ensure_future(stalled.switch())
    await held.holding.wait()
    await successor.switch()
    await newer.switch()
    before = await read_alias(store, "organizations")
    held.go.set()

    with pytest.raises(RetiredVersionError):
        await switching
    assert await read_alias(store, "organizations") == before
    assert before.live == newer.version
    await stalled.save(building=True)
    assert await read_alias(store, "organizations") == before, "a retired version reports no progress"


async def test_concurrent_alias_changes_are_all_applied(store: ConditionalStore) -> None:
    def add(word: str):  # type: ignore[no-untyped-def]
        def change(alias: Alias) -> bool:
            alias.retired.append(word)
            return True

        return change

    words = [f"v{n}" for n in range(8)]
    await asyncio.gather(*(update_alias(store, "model", add(word)) for word in words))

    assert sorted((await read_alias(store, "model")).retired) == words


async def test_a_conditional_write_with_a_stale_tag_writes_nothing(store: ConditionalStore) -> None:
    assert await store.read_tagged("doc") == (None, None)
    assert await store.write_if("doc", b"first", None)
    assert not await store.write_if("doc", b"second", None), "created by someone else meanwhile"
    data, tag = await store.read_tagged("doc")
    assert data == b"first"
    assert tag is not None
    big = os.urandom(400_000)  # several transactions in the table store
    assert await store.write_if("doc", big, tag)
    assert not await store.write_if("doc", os.urandom(400_000), tag)
    assert not await store.write_if("doc", b"third", tag)

    assert await store.read("doc") == big


@pytest.mark.azurite
async def test_a_lost_multi_transaction_write_leaves_no_rows_behind(azurite: object, table_name: str) -> None:
    from messagehandler.projections.table_store import TableCheckpointStore

    async with TableCheckpointStore.from_connection_string(azurite.connection_string, table_name) as tables:  # type: ignore[attr-defined]
        await tables.write("doc", b"first")
        _, tag = await tables.read_tagged("doc")
        await tables.write("doc", b"second")

        assert not await tables.write_if("doc", os.urandom(3_500_000), tag)  # chunk rows in two transactions

        rows = [row["RowKey"] async for row in tables.client.list_entities(select=["RowKey"])]
        assert len(rows) == 2, rows  # the head and the one chunk row of "second"
        assert await tables.read("doc") == b"second"
        await tables.client.delete_table()


async def test_an_alias_that_keeps_changing_is_reported_as_contention(tmp_path: Path) -> None:
    class Busy(FileCheckpointStore):
        async def write_if(self, name: str, data: bytes, tag: str | None) -> bool:
            return False

    with pytest.raises(AliasContentionError, match="changed under each"):
        await update_alias(Busy(tmp_path), "model", lambda alias: True)


async def test_a_store_without_conditional_writes_is_refused(source: InMemoryEventSource, tmp_path: Path) -> None:
    class Plain:
        async def read(self, name: str) -> bytes | None:
            return None

        async def write(self, name: str, data: bytes) -> None:
            raise AssertionError("never written")

    model = DurableReadModel(Projector(source, SearchEntryProjection), SearchEntry, ORG, FileCheckpointStore(tmp_path))
    with pytest.raises(ConfigurationError, match="cannot write conditionally"):
        LiveReadModel("organizations", model, SqliteIndexes(SearchEntry, tmp_path), store=Plain())
