"""End to end on Azurite: no marked value in plaintext anywhere it travels, and every reader honours erasure.

The flow: a repository flushes customers with personal data into Table Storage (outbox on), the
dispatcher publishes them to a Storage Queue, and the replicator copies the store into a cache the
way the operator command does. Then raw clients read every row of the event and key tables, every
cache file (and every event decoded from it), and every queued message: no marked value is there in
plaintext. A subscriber holding the key store reads the values; after `forget`, the cache, the
queue's subscriber and the CLI read the erased values.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from messagehandler import AggregateRepository, EventTypeRegistry
from messagehandler.cache import CacheEventSource, CacheReader, CacheReplicator, PassThroughSerializer
from messagehandler.channels import ChannelKind
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.envelope import CloudEvent
from messagehandler.events.serialization import JsonEventSerializer
from messagehandler.personal import (
    EncryptedEventError,
    Keyring,
    LocalKeyEncryptionKey,
    PersonalDataSerializer,
)
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
from messagehandler.processing.standing_query import transform
from tests.personal.events import CUSTOMER_TYPES, Customer, CustomerRegistered
from tests.processing.fakes import eventually

if TYPE_CHECKING:
    from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
    from messagehandler.testing.azurite import AzuriteProcess

pytestmark = pytest.mark.azurite

CUSTOMERS = {
    "c-1": ("Ann Smith", "ann@example.com", "Lindenlaan 12"),
    "c-2": ("Bob Jones", "bob@example.com", "Kerkstraat 7"),
}
SECRETS = [value for values in CUSTOMERS.values() for value in values]


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


class World:
    def __init__(self, azurite: AzuriteProcess, suffix: str) -> None:
        from messagehandler.personal.table_store import TableKeyStore

        self.conn = azurite.connection_string
        self.events_table = f"events{suffix}"
        self.keys_table = f"keys{suffix}"
        self.queue = f"customers-{suffix}"
        self.kek = LocalKeyEncryptionKey.generate()
        self.keyring = Keyring(TableKeyStore.from_connection_string(self.conn, self.keys_table), self.kek)
        self.registry = EventTypeRegistry(CUSTOMER_TYPES)
        self.serializer = PersonalDataSerializer(self.keyring, registry=self.registry)

    def source(self, serializer: Any = None, **options: Any) -> AzureTableStorageEventSource:
        from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

        return AzureTableStorageEventSource.from_connection_string(
            self.conn, self.events_table, serializer=serializer or self.serializer, **options
        )

    def channel(self) -> StorageQueueChannel:
        from messagehandler.channels.transactional.storage_queue import StorageQueueChannel

        return StorageQueueChannel.from_connection_string(self.conn, self.queue)

    def other_keyring(self) -> Keyring:
        """Another process's view of the same keys (its own cache)."""
        from messagehandler.personal.table_store import TableKeyStore

        return Keyring(TableKeyStore.from_connection_string(self.conn, self.keys_table), self.kek)


@pytest.fixture
async def world(azurite: AzuriteProcess) -> AsyncIterator[World]:
    from azure.data.tables.aio import TableServiceClient
    from azure.storage.queue.aio import QueueServiceClient

    world = World(azurite, uuid.uuid4().hex[:10])
    yield world
    await world.keyring.close()
    async with TableServiceClient.from_connection_string(world.conn) as service:
        for table in (world.events_table, world.keys_table):
            await service.delete_table(table)
    async with QueueServiceClient.from_connection_string(world.conn) as queues:
        await queues.delete_queue(world.queue)


async def publish_customers(world: World) -> None:
    async with world.source(outbox=True) as source, world.channel() as channel:
        dispatcher = Dispatcher(serializer=world.serializer).add_channel(channel).route("Customer").to(channel.name)
        repository = AggregateRepository(source, dispatcher=dispatcher)
        for stream_id, (name, email, street) in CUSTOMERS.items():
            customer = Customer(stream_id)
            customer.register(name, email, street)
            customer.change_plan("gold")
            repository.add(customer)
        await repository.flush()
        assert [e async for e in source.pending("Customer")] == []  # published and cleared


async def raw_rows(world: World, table: str) -> list[str]:
    from azure.data.tables.aio import TableClient

    async with TableClient.from_connection_string(world.conn, table) as client:
        return [repr(dict(row)) async for row in client.list_entities()]


async def raw_messages(world: World) -> list[str]:
    from azure.storage.queue.aio import QueueClient

    async with QueueClient.from_connection_string(world.conn, world.queue) as client:
        return [base64.b64decode(m.content).decode() for m in await client.peek_messages(max_messages=32)]


async def replicate(world: World, cache: Path) -> None:
    passing = PassThroughSerializer(EventTypeRegistry(closed=True))  # bodies as stored, as the CLI replicates
    async with world.source(passing) as source:
        await CacheReplicator(source, cache).replicate(["Customer"])


def cache_texts(cache: Path) -> list[str]:
    files = [path.read_bytes().decode("latin-1") for path in sorted(cache.iterdir()) if path.is_file()]
    return files + [raw.to_json_line() for raw in CacheReader(cache).events()]


async def test_no_marked_value_is_stored_queued_or_cached_in_plaintext(world: World, tmp_path: Path) -> None:
    await publish_customers(world)
    await replicate(world, tmp_path / "cache")

    rows = await raw_rows(world, world.events_table) + await raw_rows(world, world.keys_table)
    messages = await raw_messages(world)
    cached = cache_texts(tmp_path / "cache")

    assert len(messages) == 4
    assert len(list(CacheReader(tmp_path / "cache").events())) == 4
    for where, texts in (("table", rows), ("queue", messages), ("cache", cached)):
        found = [leak for text in texts for leak in leaks(text)]
        assert found == [], f"plaintext in the {where}: {found}"
    registered = [json.loads(m) for m in messages if '"$personal"' in m]
    assert {m["encryptionkeyid"] for m in registered} == {"c-1#1", "c-2#1"}
    assert all(m["data"]["name"]["$personal"] for m in registered)


async def test_a_subscriber_with_the_keys_reads_them_and_after_forget_reads_erased(world: World) -> None:
    await publish_customers(world)
    await world.keyring.forget("c-1", who="dpo@example.com")
    names: dict[str, str] = {}

    def capture(context: Any) -> Any:
        event = context.message
        if isinstance(event, CustomerRegistered):
            names[event.metadata.source_id] = event.name
        return None

    class Capture:
        def build(self, stream: Any) -> Any:
            return stream.pipe(transform(capture))

    async with world.channel() as channel, Keyring(world.other_keyring().store, world.kek) as theirs:
        receiver = channel.receiver(
            visibility_timeout=timedelta(seconds=5), poll_interval_max=timedelta(milliseconds=50)
        )
        source = channel_source(receiver, ChannelKind.TRANSACTIONAL, wait=timedelta(milliseconds=100))
        subscriber = PersonalDataSerializer(theirs, registry=EventTypeRegistry(CUSTOMER_TYPES))

        async def nothing(_: ActionableContext[Any]) -> None:
            return None

        async with ProcessingHost(source, subscriber).add(Capture(), nothing) as host:
            await eventually(lambda: len(names) == 2, within=15, what="both registrations decoded")
            assert host.stats.received >= 2

    assert names == {"c-1": "(erased)", "c-2": "Bob Jones"}


async def test_a_subscriber_without_the_keys_gets_a_typed_error_never_the_values(world: World) -> None:
    await publish_customers(world)
    [message] = [m for m in await raw_messages(world) if '"c-1"' in m and '"$personal"' in m]
    envelope = CloudEvent.from_json(message)

    with pytest.raises(EncryptedEventError, match=r"Customer/c-1.*version 1"):
        envelope.to_event(JsonEventSerializer(EventTypeRegistry(CUSTOMER_TYPES)))


async def test_the_cache_reads_with_the_keys_and_honours_erasure(world: World, tmp_path: Path) -> None:
    await publish_customers(world)
    await replicate(world, tmp_path / "cache")

    async with Keyring(world.other_keyring().store, world.kek) as theirs:
        reading = CacheEventSource(
            tmp_path / "cache", serializer=PersonalDataSerializer(theirs, registry=world.registry)
        )
        before = {s.stream_id: s.events[0] async for s in reading.read_type("Customer")}
        await world.keyring.forget("c-2")
        fresh = Keyring(world.other_keyring().store, world.kek)  # another process, after the erasure
        after_reader = CacheEventSource(
            tmp_path / "cache", serializer=PersonalDataSerializer(fresh, registry=world.registry)
        )
        after = {s.stream_id: s.events[0] async for s in after_reader.read_type("Customer")}
        await fresh.close()

    assert [getattr(before[i], "name", None) for i in ("c-1", "c-2")] == ["Ann Smith", "Bob Jones"]
    assert [getattr(after[i], "name", None) for i in ("c-1", "c-2")] == ["Ann Smith", "(erased)"]
