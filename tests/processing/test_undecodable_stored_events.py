"""A stored event the host cannot decode is retried, then dead-lettered: it never stops the event-store feed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import Event, EventTypeRegistry, InMemoryEventSource, JsonEventSerializer
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.processing import ActionableContext, MemoryPositionStore, ProcessingHost, event_store_source
from messagehandler.processing.sources import CatchUpReceiver
from messagehandler.testing import recorded
from samples.processing.telemetry import ReadingRecorded
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history
from tests.processing.fakes import EveryEvent, eventually

FAST = timedelta(milliseconds=10)


class Calibrated(Event, type_name="test_undecodable.Calibrated"):
    """Stands for a type written by another service, whose class this reader does not have."""

    offset: float


async def test_an_unknown_stored_type_is_dead_lettered_after_max_attempts(caplog: pytest.LogCaptureFixture) -> None:
    reader = EventTypeRegistry([ReadingRecorded], closed=True)
    serializer = JsonEventSerializer(reader)
    store = InMemoryEventSource(reader)
    events: list[Event] = [
        ReadingRecorded(sensor="p1", value=1.0),
        Calibrated(offset=0.5),
        ReadingRecorded(sensor="p1", value=3.0),
    ]
    await store.append("Plant", "p1", 0, recorded("Plant", "p1", events))
    processed: list[int] = []

    async def record(outcome: ActionableContext[EventSummary]) -> None:
        processed.append(outcome.message.version)

    checkpoints = MemoryPositionStore()
    source = event_store_source(store, "Plant", serializer, checkpoints, batch_size=8, poll=FAST)
    host = ProcessingHost(source, serializer, max_attempts=3).add(SummaryQuery(), record)
    with caplog.at_level(logging.ERROR, logger="messagehandler.processing"):
        async with host:
            await eventually(
                lambda: checkpoints.positions.get("eventstore:Plant", {}).get("versions") == {"p1": 3},
                what="the checkpoint to move past the undecodable event",
            )

    assert host.stats.dead_lettered == 1
    assert 3 in processed, "the event after the bad one is processed"
    assert 2 not in processed
    decode_failures = [r for r in caplog.records if "could not be decoded" in r.getMessage()]
    assert len(decode_failures) == 3, "one failed decode per delivery, max_attempts deliveries, then no more"
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipping event")]
    assert len(skipped) == 1
    assert "Plant/p1 v2" in skipped[0]
    assert "test_undecodable.Calibrated" in skipped[0]


@pytest.mark.azurite
async def test_a_row_that_is_no_event_skips_its_stream_and_the_feed_goes_on(
    make_table_source: Callable[..., AzureTableStorageEventSource], raw_table: TableClient
) -> None:
    store = make_table_source()
    store.registry.register(*ALL_TYPES)
    serializer = JsonEventSerializer(store.registry)
    for stream_id, count in (("a", 3), ("b", 2)):
        await store.append(ORG, stream_id, 0, history(stream_id, count))
    await raw_table.delete_entity(ORG, "a_0000000002")
    await raw_table.create_entity({"PartitionKey": ORG, "RowKey": "a_0000000002", "Body": "{}", "Version": 2})
    processed: list[tuple[str, int]] = []

    async def record(outcome: ActionableContext[Event]) -> None:
        processed.append((outcome.message.metadata.source_id, outcome.message.metadata.version))

    checkpoints = MemoryPositionStore()
    source = event_store_source(store, ORG, serializer, checkpoints, poll=FAST)
    assert isinstance(source.receiver, CatchUpReceiver)
    host = ProcessingHost(source, serializer).add(EveryEvent(), record)
    async with host:
        await eventually(lambda: ("b", 2) in processed, what="the healthy stream to be processed")
        await store.append(ORG, "b", 2, history("b", 1, start_version=3))
        await eventually(lambda: ("b", 3) in processed, what="a later event of the healthy stream to be processed")

    assert [(stream, version) for stream, version in processed if stream == "a"] == []
    (skipped,) = source.receiver.bad_rows.skipped
    assert (skipped.row_key, skipped.stream, skipped.version) == ("a_0000000002", f"{ORG}/a", 2)
    assert checkpoints.positions["eventstore:Organization"]["versions"] == {"b": 3}
