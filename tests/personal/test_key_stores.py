"""Both data key stores keep the same rules: one active key per subject, atomic erasure, records kept.

The Table Storage store runs against Azurite.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

from messagehandler.personal import InMemoryKeyStore, InvalidSubjectError
from messagehandler.personal.keys import DataKeyStore

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess


class KeyStoreContract:
    """Every test runs against the `store` fixture of the subclass."""

    async def test_a_subject_without_keys_has_no_active_key(self, store: DataKeyStore) -> None:
        assert await store.active("nobody") is None
        assert await store.get("nobody#1") is None

    async def test_a_created_key_is_active_and_found_by_its_id(self, store: DataKeyStore) -> None:
        created = await store.create("c-1", b"w" * 40, "kek-a")

        assert (created.key_id, created.wrapped, created.kek_id, created.destroyed) == (
            "c-1#1",
            b"w" * 40,
            "kek-a",
            False,
        )
        assert await store.active("c-1") == created
        assert await store.get("c-1#1") == created

    async def test_creating_again_returns_the_active_key(self, store: DataKeyStore) -> None:
        first = await store.create("c-1", b"1" * 40, "kek")
        second = await store.create("c-1", b"2" * 40, "kek")

        assert second == first

    async def test_concurrent_creations_agree_on_one_key(self, store: DataKeyStore) -> None:
        created = await asyncio.gather(*(store.create("race", bytes([n]) * 40, "kek") for n in range(6)))

        assert len({key.wrapped for key in created}) == 1
        assert await store.active("race") == created[0]

    async def test_destroy_removes_every_key_and_records_it(self, store: DataKeyStore) -> None:
        await store.create("c-1", b"1" * 40, "kek")

        record = await store.destroy("c-1", who="dpo", reason="art. 17 request")

        assert (record.subject, record.key_ids, record.who, record.reason) == (
            "c-1",
            ("c-1#1",),
            "dpo",
            "art. 17 request",
        )
        assert await store.active("c-1") is None
        destroyed = await store.get("c-1#1")
        assert destroyed is not None
        assert destroyed.destroyed
        assert destroyed.wrapped is None
        assert destroyed.destroyed_at is not None

    async def test_after_erasure_a_new_key_has_the_next_generation(self, store: DataKeyStore) -> None:
        await store.create("c-1", b"1" * 40, "kek")
        await store.destroy("c-1")

        renewed = await store.create("c-1", b"2" * 40, "kek")
        record = await store.destroy("c-1")

        assert renewed.key_id == "c-1#2"
        assert record.key_ids == ("c-1#2",)
        assert [k.destroyed for k in [await store.get("c-1#1"), await store.get("c-1#2")] if k] == [True, True]

    async def test_erasure_records_are_listed_per_subject_and_for_all(self, store: DataKeyStore) -> None:
        await store.create("a", b"1" * 40, "kek")
        await store.destroy("a", who="x")
        await store.destroy("b", who="y")  # a subject without keys is recorded all the same
        await store.destroy("a", who="z")

        assert [(r.subject, r.who, r.key_ids) async for r in store.erasures("a")] == [
            ("a", "x", ("a#1",)),
            ("a", "z", ()),
        ]
        assert sorted([(r.subject, r.who) async for r in store.erasures()]) == [("a", "x"), ("a", "z"), ("b", "y")]

    async def test_ids_that_cannot_be_keys_are_refused_or_unknown(self, store: DataKeyStore) -> None:
        with pytest.raises(InvalidSubjectError):
            await store.create("a/b", b"1" * 40, "kek")
        with pytest.raises(InvalidSubjectError):
            await store.destroy("")
        for key_id in ("no-generation", "a#", "a#x", "a/b#1", "#1"):
            assert await store.get(key_id) is None


class TestInMemoryKeyStore(KeyStoreContract):
    @pytest.fixture
    async def store(self) -> DataKeyStore:
        return InMemoryKeyStore()


@pytest.mark.azurite
class TestTableKeyStore(KeyStoreContract):
    @pytest.fixture
    async def store(self, azurite: AzuriteProcess, table_name: str) -> AsyncIterator[DataKeyStore]:
        from messagehandler.personal.table_store import TableKeyStore

        store = TableKeyStore.from_connection_string(azurite.connection_string, table_name)
        yield store
        await store.table_client.delete_table()
        await store.close()

    async def test_rows_keep_only_wrapped_keys_and_no_key_after_erasure(self, store: Any) -> None:
        await store.create("c-1", b"wrapped-bytes-0123456789012345678901234", "kek")
        await store.destroy("c-1", who="dpo")

        rows = {row["RowKey"]: dict(row) async for row in store.table_client.list_entities()}

        assert set(rows) == {"head", "key-000001", "erasure-000001"}
        assert "WrappedKey" not in rows["key-000001"]
        assert rows["erasure-000001"]["Who"] == "dpo"
        assert rows["head"]["Active"] == 0


def test_a_malformed_connection_string_names_no_secret() -> None:
    from messagehandler.errors import ConfigurationError
    from messagehandler.personal.table_store import TableKeyStore

    with pytest.raises(ConfigurationError) as raised:
        TableKeyStore.from_connection_string("AccountKey=s3cr3t;nonsense", "Keys")
    assert "s3cr3t" not in str(raised.value)
    with pytest.raises(ConfigurationError, match="not valid"):
        TableKeyStore.from_connection_string("UseDevelopmentStorage=true", "bad-name")


@pytest.mark.azurite
async def test_a_missing_key_table_is_created_on_first_use(azurite: AzuriteProcess, table_name: str) -> None:
    from messagehandler.personal.table_store import TableKeyStore

    async with TableKeyStore.from_connection_string(azurite.connection_string, table_name) as store:
        assert await store.active("c-1") is None
        await store.create("c-1", b"1" * 40, "kek")
        await store.table_client.delete_table()


@pytest.mark.azurite
async def test_a_store_that_cannot_be_reached_raises_a_service_error(azurite: AzuriteProcess, table_name: str) -> None:
    from messagehandler.errors import ServiceUnavailableError
    from messagehandler.personal.table_store import TableKeyStore

    conn = azurite.connection_string.replace(str(azurite.table_port), "1")
    async with TableKeyStore.from_connection_string(conn, table_name, retry_total=0) as store:
        with pytest.raises(ServiceUnavailableError) as raised:
            await store.active("c-1")
    assert "AccountKey" not in str(raised.value)
