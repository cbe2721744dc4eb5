"""The host on the in-process channel (volatile): everything is acted on once; failures are logged, not retried."""

from __future__ import annotations

from datetime import timedelta

import pytest

from messagehandler import JsonEventSerializer
from messagehandler.channels.volatile.in_process import InProcessChannel
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.processing.conftest import readings
from tests.processing.fakes import eventually


async def test_volatile_messages_are_acted_on_and_failures_logged_with_their_id(
    serializer: JsonEventSerializer, caplog: pytest.LogCaptureFixture
) -> None:
    channel = InProcessChannel()
    sent = readings(serializer, ("a", 1.0), ("bad", 2.0), ("c", 3.0))
    summaries: list[EventSummary] = []

    async def act(outcome: ActionableContext[EventSummary]) -> None:
        if outcome.message.event_id == sent[1].id:
            raise RuntimeError("cannot handle")
        summaries.append(outcome.message)

    host = ProcessingHost(channel_source(channel, wait=timedelta(milliseconds=10)), serializer).add(SummaryQuery(), act)
    async with host:
        await channel.publish(sent)
        await eventually(lambda: host.stats.dropped == 3, what="all three to leave the host")
        assert host.in_flight == 0
    assert [summary.event_id for summary in summaries] == [sent[0].id, sent[2].id]
    assert host.stats.completed == host.stats.abandoned == 0
    assert any(sent[1].id in record.getMessage() for record in caplog.records if record.levelname == "ERROR")
    assert any(sent[1].id in record.getMessage() for record in caplog.records if record.levelname == "WARNING")


@pytest.mark.parametrize(
    "bad_data",
    [
        pytest.param("[" * 30000 + "]" * 30000, id="nested-too-deep"),
        pytest.param('{"sensor": 1, "value": "not a number"}', id="wrong-field-types"),
        pytest.param("not json", id="not-json"),
    ],
)
async def test_a_message_that_cannot_become_an_event_is_dropped_and_the_rest_are_acted_on(
    serializer: JsonEventSerializer, caplog: pytest.LogCaptureFixture, bad_data: str
) -> None:
    from dataclasses import replace

    channel = InProcessChannel()
    first, middle, last = readings(serializer, ("a", 1.0), ("b", 2.0), ("c", 3.0))
    sent = [first, replace(middle, data=bad_data), last]
    summaries: list[EventSummary] = []

    async def act(outcome: ActionableContext[EventSummary]) -> None:
        summaries.append(outcome.message)

    host = ProcessingHost(channel_source(channel, wait=timedelta(milliseconds=10)), serializer).add(SummaryQuery(), act)
    async with host:
        await channel.publish(sent)
        await eventually(lambda: host.stats.dropped == 3, what="all three to leave the host")
    assert [summary.event_id for summary in summaries] == [first.id, last.id]
    assert any(middle.id in record.getMessage() for record in caplog.records if record.levelname == "ERROR")


async def test_a_host_with_little_room_frees_it_as_each_volatile_message_leaves(
    serializer: JsonEventSerializer,
) -> None:
    """The settler is woken when the first message leaves and takes every one that left meanwhile."""
    channel = InProcessChannel()
    sent = readings(serializer, *((f"s{n}", float(n)) for n in range(300)))
    summaries: list[EventSummary] = []

    async def act(outcome: ActionableContext[EventSummary]) -> None:
        summaries.append(outcome.message)

    source = channel_source(channel, batch_size=3, wait=timedelta(milliseconds=10))
    host = ProcessingHost(source, serializer, max_in_flight=4, action_concurrency=2).add(SummaryQuery(), act)
    async with host:
        await channel.publish(sent)
        await eventually(lambda: host.stats.dropped == len(sent), what="every message to leave the host")
        await host.idle()
        assert host.in_flight == 0
    assert [summary.event_id for summary in summaries] == [envelope.id for envelope in sent]
