"""The flush's deferred outbox clearing against a store that fails: the entry stays for the relay or is gone, never lost.

A flush publishes its events and hands the entry to `clear_later`; the row is deleted afterwards, in a
batch of its own or carried by the next append of the partition. Whatever happens to that delete, the
flush has returned, every event was published once, and the outcome is one of two: the delete was
carried out (nothing more to publish) or the row is still there and the relay publishes its range
again, with the same event ids, in version order. The store's rows are counted with the SDK's own
client, the channel's deliveries by an in-process subscriber.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import AggregateRepository, NotCommittedError
from messagehandler.channels import CloudEvent
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.volatile import InProcessChannel
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.testing.azurite import AzuriteProcess
from samples.organization import Organization
from tests.support.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.azurite

ORG = "Organization"
BATCH = b"$batch"

CARRIED_OUT = [
    pytest.param({"fault": Fault.DROP_RESPONSE}, id="answer dropped"),
    pytest.param({"fault": Fault.CUT_RESPONSE, "cut_after": 20}, id="answer cut"),
    pytest.param({"fault": Fault.ERROR_AFTER, "status": 503}, id="503 after the delete"),
    pytest.param({"fault": Fault.ERROR_AFTER, "status": 500, "code": "InternalError"}, id="500 after the delete"),
]
NOT_CARRIED_OUT = [
    pytest.param({"fault": Fault.RESET_REQUEST}, id="request reset"),
    pytest.param({"fault": Fault.ERROR_BEFORE, "status": 503}, id="503 before the delete"),
    pytest.param({"fault": Fault.ERROR_BEFORE, "status": 500, "code": "InternalError"}, id="500 before the delete"),
]


@dataclass
class Flushing:
    source: AzureTableStorageEventSource
    dispatcher: Dispatcher
    seen: list[CloudEvent]
    proxy: FaultProxy
    table: TableClient

    async def flush(self, stream_id: str, name: str, *, new: bool = False) -> None:
        """Register the organization, or rename it if it exists, in a unit of work of its own.

        `new` skips loading it first, so the append follows at once.
        """
        repository = AggregateRepository(self.source, dispatcher=self.dispatcher)
        org = await repository.get(Organization, stream_id) if not new else Organization(stream_id)
        if org.registered:
            org.rename(name)
        else:
            org.register(name)
            repository.add(org)
        await repository.flush()

    async def outbox_rows(self) -> list[tuple[str, int, int]]:
        rows = [row async for row in self.table.list_entities()]
        return [
            (row["SourceId"], row["FromVersion"], row["ToVersion"])
            for row in rows
            if row["RowKey"].startswith("$outbox_")
        ]

    async def stored_ids(self, stream_id: str) -> list[str]:
        rows = [row async for row in self.table.list_entities()]
        ours = [row for row in rows if row.get("SourceId") == stream_id and not row["RowKey"].startswith("$")]
        return [row["EventId"] for row in sorted(ours, key=lambda row: row["RowKey"])]

    async def relay(self) -> int:
        """One relay pass with a source straight to the store; how many events it published."""
        report = await OutboxRelay(self.source, self.dispatcher, min_age=timedelta(0)).run_once()
        assert report.failed == 0, report.errors
        return report.published


@pytest.fixture
async def flushing(
    table_proxy: FaultProxy, azurite: AzuriteProcess, table_name: str, raw_table: TableClient
) -> AsyncIterator[Flushing]:
    channel = InProcessChannel("live")
    seen: list[CloudEvent] = []

    async def record(envelope: CloudEvent) -> None:
        seen.append(envelope)

    channel.subscribe(record)
    dispatcher = Dispatcher().add_channel(channel).route(ORG).to("live")
    async with AzureTableStorageEventSource.from_connection_string(
        table_proxy.rewrite(azurite.connection_string), table_name, outbox=True, retry_total=0, connection_timeout=2
    ) as source:
        source.registry.register(*Organization.handled_event_types())
        await source.load(ORG, "warm-up")  # creates the table
        yield Flushing(source, dispatcher, seen, table_proxy, raw_table)
        await source.table_client.delete_table()


def no_secret(caplog: pytest.LogCaptureFixture, azurite: AzuriteProcess) -> None:
    key = azurite.connection_string.split("AccountKey=")[1].split(";")[0]
    assert key not in caplog.text


@pytest.mark.parametrize("fault", CARRIED_OUT)
async def test_a_deferred_clear_whose_answer_is_lost_has_cleared_and_nothing_is_published_twice(
    flushing: Flushing, fault: dict[str, Any], caplog: pytest.LogCaptureFixture, azurite: AzuriteProcess
) -> None:
    flushing.proxy.inject(match=BATCH, after=1, **fault)  # the append's transaction passes, the clear's fails

    await flushing.flush("acme", "Acme")
    await flushing.source.cleared()

    assert flushing.proxy.faulted
    assert "could not clear 1 published outbox rows" in caplog.text
    no_secret(caplog, azurite)
    assert await flushing.outbox_rows() == []
    assert await flushing.relay() == 0
    assert [e.id for e in flushing.seen] == await flushing.stored_ids("acme")


@pytest.mark.parametrize("fault", NOT_CARRIED_OUT)
async def test_a_deferred_clear_that_never_reached_the_store_leaves_the_entry_and_the_relay_repeats_it_with_the_same_ids(
    flushing: Flushing, fault: dict[str, Any], caplog: pytest.LogCaptureFixture, azurite: AzuriteProcess
) -> None:
    flushing.proxy.inject(match=BATCH, after=1, **fault)

    await flushing.flush("acme", "Acme")
    await flushing.source.cleared()

    assert "could not clear 1 published outbox rows" in caplog.text
    no_secret(caplog, azurite)
    assert await flushing.outbox_rows() == [("acme", 1, 1)]
    assert await flushing.relay() == 1
    stored = await flushing.stored_ids("acme")
    assert [e.id for e in flushing.seen] == stored + stored  # at least once: the same event, the same id
    assert await flushing.outbox_rows() == []


@pytest.mark.parametrize("fault", NOT_CARRIED_OUT)
async def test_the_next_flush_after_a_failed_clear_publishes_the_stream_again_in_version_order(
    flushing: Flushing, fault: dict[str, Any]
) -> None:
    flushing.proxy.inject(match=BATCH, after=1, **fault)
    await flushing.flush("acme", "Acme")
    await flushing.source.cleared()
    assert await flushing.outbox_rows() == [("acme", 1, 1)]

    await flushing.flush("acme", "Acme Corp")  # meets the row left behind and extends it to versions 1..2
    await flushing.source.cleared()

    first, second = await flushing.stored_ids("acme")
    assert [e.id for e in flushing.seen] == [first, first, second]
    assert await flushing.outbox_rows() == []
    assert await flushing.relay() == 0


@pytest.mark.parametrize("fault", [*CARRIED_OUT, *NOT_CARRIED_OUT])
async def test_an_append_carrying_a_published_entrys_delete_that_fails_loses_and_repeats_nothing(
    flushing: Flushing, fault: dict[str, Any], caplog: pytest.LogCaptureFixture, azurite: AzuriteProcess
) -> None:
    caplog.set_level(logging.INFO)
    await flushing.flush("a", "A", new=True)  # its clear waits for the next append of the partition to carry it
    flushing.proxy.inject(match=BATCH, **fault)  # b's append, carrying a's delete

    if fault["fault"] in (Fault.RESET_REQUEST, Fault.ERROR_BEFORE):
        with pytest.raises(NotCommittedError):  # nothing of b was stored, nor a's row deleted
            await flushing.flush("b", "B", new=True)
        assert await flushing.stored_ids("b") == []
        assert [e.subject for e in flushing.seen] == ["Organization/a"]
        await flushing.flush("b", "B", new=True)
    else:
        await flushing.flush("b", "B", new=True)
        assert "append to Organization/b failed" in caplog.text  # and was found stored by reading back
    await flushing.source.cleared()

    no_secret(caplog, azurite)
    assert await flushing.outbox_rows() == []
    assert await flushing.relay() == 0
    assert [e.id for e in flushing.seen] == await flushing.stored_ids("a") + await flushing.stored_ids("b")
