"""Personal data through every event source: sealed in the rows, readable with keys, erased after forget.

Every test runs against the in-memory source and the Table Storage source on Azurite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from messagehandler import AggregateRepository, EventSource, EventTypeRegistry, InMemoryEventSource
from messagehandler.errors import UnreadableEventError
from messagehandler.events.serialization import JsonEventSerializer
from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.positions import TypePosition, catch_up
from messagehandler.personal import (
    EncryptedEventError,
    InMemoryKeyStore,
    Keyring,
    LocalKeyEncryptionKey,
    PersonalDataSerializer,
    UnprotectedPersonalDataError,
)
from messagehandler.projections import Projection, Projector
from tests.personal.events import CUSTOMER_TYPES, Customer, CustomerRegistered, PlanChanged

SECRETS = ("Ann Smith", "ann@example.com", "Main 1")


class Stores:
    """One store of the parameterised kind, opened with any serializer; raw rows for inspection."""

    def __init__(self, kind: str, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.memory: InMemoryEventSource | None = None
        if kind != "memory":
            self.make_table_source = request.getfixturevalue("make_table_source")
            self.raw_table = request.getfixturevalue("raw_table")

    def open(self, serializer: Any = None) -> EventSource:
        """A source on the same store; without a serializer, a plain one (JSON, no keys)."""
        serializer = serializer if serializer is not None else JsonEventSerializer(EventTypeRegistry(CUSTOMER_TYPES))
        if self.kind == "memory":
            source = InMemoryEventSource(serializer=serializer)
            if self.memory is None:
                self.memory = source
            source._streams = self.memory._streams  # another view of the same streams
            return source
        return self.make_table_source(serializer=serializer)  # type: ignore[no-any-return]

    async def raw_texts(self) -> list[str]:
        """Every stored value as text: the in-memory bodies and metadata, or every column of every table row."""
        if self.memory is not None:
            return [
                f"{meta!r} {body}"
                for streams in self.memory._streams.values()
                for rows in streams.values()
                for meta, body in rows
            ]
        return [repr(dict(row)) async for row in self.raw_table.list_entities()]


@pytest.fixture(params=["memory", pytest.param("azure_tables", marks=pytest.mark.azurite)])
def stores(request: pytest.FixtureRequest) -> Stores:
    return Stores(request.param, request)


@pytest.fixture
async def keyring() -> AsyncIterator[Keyring]:
    async with Keyring(InMemoryKeyStore(), LocalKeyEncryptionKey.generate()) as ring:
        yield ring


def protected(keyring: Keyring) -> PersonalDataSerializer:
    return PersonalDataSerializer(keyring, registry=EventTypeRegistry(CUSTOMER_TYPES))


async def register(source: EventSource, stream_id: str = "c-1", name: str = "Ann Smith") -> None:
    repository = AggregateRepository(source)
    customer = Customer(stream_id)
    customer.register(name, "ann@example.com")
    customer.change_plan("gold")
    repository.add(customer)
    await repository.flush()


class Summary(BaseModel):
    id: str = ""
    name: str = ""
    plan: str = ""


class SummaryProjection(Projection[Summary]):
    def project_registered(self, record: Summary, event: CustomerRegistered) -> None:
        record.id = event.metadata.source_id
        record.name = event.name

    def project_plan(self, record: Summary, event: PlanChanged) -> None:
        record.plan = event.plan


async def test_rows_hold_sealed_values_and_name_their_key(stores: Stores, keyring: Keyring) -> None:
    source = stores.open(protected(keyring))
    await register(source)

    texts = await stores.raw_texts()

    assert len(texts) == 2
    for secret in SECRETS:
        assert not any(secret in text for text in texts), secret
    assert any("c-1#1" in text for text in texts)
    customer = await AggregateRepository(source).get(Customer, "c-1")
    assert (customer.name, customer.email, customer.plan) == ("Ann Smith", "ann@example.com", "gold")


async def test_after_forget_every_reader_gets_erased_values_and_nothing_raises(
    stores: Stores, keyring: Keyring
) -> None:
    source = stores.open(protected(keyring))
    await register(source, "c-1")
    await register(source, "c-2", name="Bob Jones")

    await keyring.forget("c-1", who="dpo@example.com")

    customer = await AggregateRepository(source).get(Customer, "c-1")
    assert (customer.name, customer.email, customer.plan, customer.version) == ("(erased)", None, "gold", 2)
    streams = {s.stream_id: s.events async for s in source.read_type("Customer")}
    assert isinstance(streams["c-1"][0], CustomerRegistered)
    assert streams["c-1"][0].name == "(erased)"
    assert streams["c-2"][0].name == "Bob Jones"  # type: ignore[attr-defined]
    position = TypePosition()
    caught = {s.stream_id: s.events async for s in catch_up(source, "Customer", position)}
    assert caught["c-1"][0].name == "(erased)"  # type: ignore[attr-defined]
    records = await Projector(source, SummaryProjection).restore(Summary, "Customer")
    assert records["c-1"] == Summary(id="c-1", name="(erased)", plan="gold")
    assert "Ann Smith" not in repr(records)


async def test_a_command_after_forget_appends_and_the_aggregate_replays(stores: Stores, keyring: Keyring) -> None:
    source = stores.open(protected(keyring))
    await register(source)
    await keyring.forget("c-1")

    repository = AggregateRepository(source)
    customer = await repository.get(Customer, "c-1")
    customer.change_plan("platinum")
    await repository.flush()

    again = await AggregateRepository(source).get(Customer, "c-1")
    assert (again.version, again.plan, again.name) == (3, "platinum", "(erased)")


async def test_a_source_without_keys_refuses_personal_data_and_writes_nothing(stores: Stores) -> None:
    source = stores.open()
    repository = AggregateRepository(source)
    customer = Customer("c-1")
    customer.register("Ann Smith", "ann@example.com")
    repository.add(customer)

    with pytest.raises(UnprotectedPersonalDataError, match="PersonalDataSerializer"):
        await repository.flush()

    assert await source.load("Customer", "c-1") == []


async def test_sealed_rows_read_without_keys_are_typed_errors_or_skipped(stores: Stores, keyring: Keyring) -> None:
    await register(stores.open(protected(keyring)))
    plain = stores.open()

    with pytest.raises(EncryptedEventError, match=r"Customer/c-1.*version 1.*PersonalDataSerializer"):
        await plain.load("Customer", "c-1")
    with pytest.raises(UnreadableEventError, match="c-1"):
        [s async for s in plain.read_type("Customer")]
    skipped = SkipBadRows()
    assert [s async for s in plain.read_type("Customer", bad_rows=skipped)] == []
    assert skipped.streams == ["Customer/c-1"]


async def test_rows_under_a_key_another_store_never_held_are_bad_rows(stores: Stores, keyring: Keyring) -> None:
    await register(stores.open(protected(keyring)))
    stranger = stores.open(protected(Keyring(InMemoryKeyStore(), keyring.kek)))

    skipped = SkipBadRows()
    assert [s async for s in stranger.read_type("Customer", bad_rows=skipped)] == []

    assert "c-1#1" in str(skipped.skipped[0])
    assert "never held" in str(skipped.skipped[0])
