"""After `forget`, read models projected before hold no trace of the subject once its streams are re-projected.

A durable read model (its checkpoint file) and an SQLite search index (its database file) are built
from an Azurite store with personal data: the plaintext is in their files. After `forget("c-1")` and
`reproject`/`reproject_into`, the bytes of every file hold none of c-1's values (neither as typed nor
as the index's lower-case words), while c-2's record is untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import BaseModel

from messagehandler import AggregateRepository, EventTypeRegistry, InMemoryEventSource
from messagehandler.personal import InMemoryKeyStore, Keyring, LocalKeyEncryptionKey, PersonalDataSerializer
from messagehandler.projections import (
    CheckpointError,
    DurableReadModel,
    FileCheckpointStore,
    Projection,
    Projector,
    Reprojected,
    streams_sealed_with,
)
from messagehandler.search import SqliteSearchIndex
from messagehandler.testing import recorded
from tests.personal.events import CUSTOMER_TYPES, Customer, CustomerRegistered, OrderPlaced, PlanChanged

if TYPE_CHECKING:
    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
    from messagehandler.testing.azurite import AzuriteProcess

FORGOTTEN = ("Zorglub Quixote", "zorglub@example.com", "Lindenlaan 12")
KEPT = ("Bob Jones", "bob@example.com", "Kerkstraat 7")
TRACES = ("zorglub", "quixote", "lindenlaan")
"""c-1's values as words, lower-cased: the full-text index stores them so."""


class Contact(BaseModel):
    name: str = ""
    email: str | None = None
    street: str = ""
    plan: str = "basic"


class ContactProjection(Projection[Contact]):
    def project_registered(self, record: Contact, event: CustomerRegistered) -> None:
        record.name, record.email = event.name, event.email
        record.street = event.address.street if event.address else ""

    def project_plan(self, record: Contact, event: PlanChanged) -> None:
        record.plan = event.plan


def traces(folder: Path) -> dict[str, list[str]]:
    """For every file in `folder`, the forgotten values found in its bytes."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes().lower()
            found[path.name] = [t for t in TRACES if t.encode() in data]
    return found


@dataclass
class Store:
    source: AzureTableStorageEventSource
    keyring: Keyring


@pytest.fixture
async def store(azurite: AzuriteProcess) -> AsyncIterator[Store]:
    from azure.data.tables.aio import TableServiceClient

    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

    table = f"reproject{uuid.uuid4().hex[:10]}"
    keyring = Keyring(InMemoryKeyStore(), LocalKeyEncryptionKey.generate())
    serializer = PersonalDataSerializer(keyring, registry=EventTypeRegistry(CUSTOMER_TYPES))
    async with AzureTableStorageEventSource.from_connection_string(
        azurite.connection_string, table, serializer=serializer
    ) as opened:
        yield Store(opened, keyring)
    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        await service.delete_table(table)


async def register(source: InMemoryEventSource | AzureTableStorageEventSource) -> None:
    repository = AggregateRepository(source)
    for stream_id, (name, email, street) in (("c-1", FORGOTTEN), ("c-2", KEPT)):
        customer = Customer(stream_id)
        customer.register(name, email, street)
        customer.change_plan("gold")
        repository.add(customer)
    await repository.flush()


@pytest.mark.azurite
async def test_a_durable_read_model_and_a_search_index_hold_no_trace_after_reprojection(
    store: Store, tmp_path: Path
) -> None:
    source = store.source
    await register(source)
    projector = Projector(source, ContactProjection)
    model = DurableReadModel(projector, Contact, "Customer", FileCheckpointStore(tmp_path / "checkpoints"))
    await model.open()
    await model.save()
    (tmp_path / "index").mkdir()
    async with SqliteSearchIndex(Contact, tmp_path / "index" / "contacts.db") as index:
        await projector.restore_into(index, Contact, "Customer")
        assert [r.id for r in await index.search("zorglub")] == ["c-1"]
    assert traces(tmp_path) == {"Customer.Contact.checkpoint.json": list(TRACES), "contacts.db": list(TRACES)}

    await store.keyring.forget("c-1", who="dpo")
    assert await model.catch_up() == set()  # nothing new was stored: catch-up alone keeps the plaintext
    assert model.records["c-1"].name == FORGOTTEN[0]

    assert await model.reproject(["c-1"]) == {"c-1"}
    await model.save()
    async with SqliteSearchIndex(Contact, tmp_path / "index" / "contacts.db") as index:
        done = await projector.reproject_into(index, Contact, "Customer", ["c-1"])
        assert done == Reprojected(upserted=("c-1",), removed=())
        assert await index.get("c-1") == Contact(name="(erased)", email=None, street="", plan="gold")
        assert await index.get("c-2") == Contact(name=KEPT[0], email=KEPT[1], street=KEPT[2], plan="gold")
        assert await index.search("zorglub") == []
        assert [r.id for r in await index.search("kerkstraat")] == ["c-2"]
    assert traces(tmp_path) == {"Customer.Contact.checkpoint.json": [], "contacts.db": []}

    reopened = DurableReadModel(projector, Contact, "Customer", FileCheckpointStore(tmp_path / "checkpoints"))
    await reopened.open()
    assert reopened.records["c-1"] == Contact(name="(erased)", plan="gold")
    assert reopened.records["c-2"].name == KEPT[0]


@pytest.mark.azurite
async def test_streams_naming_the_subject_in_a_field_are_found_by_its_keys(store: Store) -> None:
    source = store.source
    await register(source)
    order = OrderPlaced(customer_id="c-1", delivery_note="ring twice", amount=3)
    other = OrderPlaced(customer_id="c-2", delivery_note="leave at door", amount=1)
    await source.append("Order", "o-1", 0, recorded("Order", "o-1", [order]))
    await source.append("Order", "o-2", 0, recorded("Order", "o-2", [other]))

    erasure = await store.keyring.forget("c-1")

    assert await streams_sealed_with(source, "Order", erasure.key_ids) == ["o-1"]
    assert await streams_sealed_with(source, "Customer", erasure.key_ids) == ["c-1"]


async def test_a_deleted_stream_or_one_without_a_record_loses_its_record(tmp_path: Path) -> None:
    keyring = Keyring(InMemoryKeyStore(), LocalKeyEncryptionKey.generate())
    source = InMemoryEventSource(serializer=PersonalDataSerializer(keyring, registry=EventTypeRegistry(CUSTOMER_TYPES)))
    await register(source)
    projector = Projector(source, ContactProjection)
    model = DurableReadModel(projector, Contact, "Customer", FileCheckpointStore(tmp_path))
    await model.open()
    model.records["ghost"] = Contact(name="left over")
    await source.delete("Customer", "c-2", who="dpo")

    assert await model.reproject(["c-2", "ghost", "c-2"]) == {"c-2", "ghost"}
    assert sorted(model.records) == ["c-1"]
    async with SqliteSearchIndex(Contact) as index:
        await projector.restore_into(index, Contact, "Customer")
        await index.upsert({"ghost": Contact(name="left over")})
        done = await projector.reproject_into(index, Contact, "Customer", ["ghost", "c-1"])
        assert done == Reprojected(upserted=("c-1",), removed=("ghost",))
        assert await index.count() == 1


async def test_an_interrupted_read_model_is_not_reprojected(tmp_path: Path) -> None:
    class Broken(InMemoryEventSource):
        def read_changes(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def, override]
            raise OSError("the store went away")

    model = DurableReadModel(Projector(Broken(), ContactProjection), Contact, "Customer", FileCheckpointStore(tmp_path))
    with pytest.raises(OSError, match="went away"):
        await model.open()
    with pytest.raises(CheckpointError, match="open"):
        await model.reproject(["c-1"])


class PlanChanges(BaseModel):
    changes: int = 0


class PlanChangeCount(Projection[PlanChanges]):
    def project_registered(self, record: PlanChanges, event: CustomerRegistered) -> None:
        pass

    def project_plan(self, record: PlanChanges, event: PlanChanged) -> None:
        record.changes += 1


async def test_events_after_the_position_are_left_to_the_next_catch_up_and_applied_once(tmp_path: Path) -> None:
    keyring = Keyring(InMemoryKeyStore(), LocalKeyEncryptionKey.generate())
    source = InMemoryEventSource(serializer=PersonalDataSerializer(keyring, registry=EventTypeRegistry(CUSTOMER_TYPES)))
    await register(source)
    model = DurableReadModel(Projector(source, PlanChangeCount), PlanChanges, "Customer", FileCheckpointStore(tmp_path))
    await model.open()
    repository = AggregateRepository(source)
    customer = await repository.get(Customer, "c-1")
    customer.change_plan("platinum")
    await repository.flush()

    await model.reproject(["c-1"])
    assert (model.records["c-1"].changes, model.position.seen("c-1")) == (1, 2)
    await model.catch_up()
    assert (model.records["c-1"].changes, model.position.seen("c-1")) == (2, 3)
