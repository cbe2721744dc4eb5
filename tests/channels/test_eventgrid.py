"""Event Grid channel against a local HTTP receiver: what the real aio SDK sends, in both schemas."""

from __future__ import annotations

import json
import traceback
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from messagehandler.channels import ChannelError, CloudEvent
from messagehandler.channels.errors import ChannelConfigurationError
from messagehandler.channels.volatile.eventgrid import EventGridChannel, EventGridSchema, sdk_time
from tests.channels.http_receiver import HttpReceiver
from tests.channels.support import envelopes

KEY = "event-grid-topic-key-0123456789"
FAST_RETRY = {"retry_backoff_factor": 0.001, "retry_backoff_max": 0.01}


@pytest.fixture
async def make_channel(http_receiver: HttpReceiver) -> AsyncIterator[Any]:
    channels: list[EventGridChannel] = []

    def make(**options: Any) -> EventGridChannel:
        channels.append(EventGridChannel.from_key(http_receiver.url, KEY, **{**FAST_RETRY, **options}))
        return channels[-1]

    yield make
    for channel in channels:
        await channel.close()


async def test_cloud_event_schema_sends_the_envelope_with_its_extensions(
    http_receiver: HttpReceiver, make_channel: Any
) -> None:
    sent = envelopes("o-1", 2)
    await make_channel().publish(sent)

    (request,) = http_receiver.delivered()
    assert request.headers["aeg-sas-key"] == KEY
    assert request.query["api-version"]
    assert request.headers["Content-Type"] == "application/cloudevents-batch+json; charset=utf-8"
    body = json.loads(request.body)
    assert [CloudEvent.from_json(json.dumps(item)) for item in body] == sent
    assert body[0]["specversion"] == "1.0"
    assert body[1]["streamversion"] == 2
    assert body[0]["correlationid"] == "corr-1"


async def test_event_grid_schema_sends_the_payload_as_data(http_receiver: HttpReceiver, make_channel: Any) -> None:
    sent = envelopes("o-1", 1)
    await make_channel(schema=EventGridSchema.EVENT_GRID, topic="orders").publish(sent)

    (request,) = http_receiver.delivered()
    assert request.headers["aeg-sas-key"] == KEY
    assert request.headers["Content-Type"].startswith("application/json")
    (event,) = json.loads(request.body)
    assert event == {
        "id": sent[0].id,
        "subject": "Order/o-1",
        "eventType": "messagehandler.testing.ItemAdded",
        "eventTime": sent[0].time.isoformat(),
        "dataVersion": "1",
        "data": json.loads(sent[0].data),
        "topic": "orders",
    }


@pytest.mark.parametrize("schema", list(EventGridSchema))
async def test_requests_are_split_by_size_in_order_and_measured_exactly(
    http_receiver: HttpReceiver, make_channel: Any, schema: EventGridSchema
) -> None:
    sent = envelopes("o-1", 9)
    probe = make_channel(schema=schema)
    sizes = [probe.wire_size(envelope) for envelope in sent]
    limit = sum(sizes[:4]) + 3 * 2 + 2
    channel = make_channel(schema=schema, max_request_bytes=limit)

    await channel.publish(sent)

    requests = http_receiver.delivered()
    assert len(requests) == 3
    assert len(requests[0].body) == limit
    assert all(len(r.body) <= limit for r in requests)
    ids = [item["id"] for r in requests for item in json.loads(r.body)]
    assert ids == [e.id for e in sent]


async def test_the_aio_client_honours_the_retry_settings(http_receiver: HttpReceiver, make_channel: Any) -> None:
    http_receiver.fail_next(503, times=2)
    await make_channel(retry_total=2).publish(envelopes("o-1", 1))
    assert [r.status for r in http_receiver.requests] == [503, 503, 200]


async def test_a_refusal_after_the_retries_is_a_channel_error_without_the_key(
    http_receiver: HttpReceiver, make_channel: Any
) -> None:
    http_receiver.fail_next(503, times=2)
    channel = make_channel(name="grid", retry_total=1)

    with pytest.raises(ChannelError, match=r"'grid'.*503.*0 of 1") as raised:
        await channel.publish(envelopes("o-1", 1))

    assert len(http_receiver.requests) == 2
    for text in ("".join(traceback.format_exception(raised.value)), repr(channel)):
        assert KEY not in text


async def test_an_unauthorised_key_is_not_retried(http_receiver: HttpReceiver, make_channel: Any) -> None:
    http_receiver.fail_next(401)
    with pytest.raises(ChannelError, match="401"):
        await make_channel(retry_total=3).publish(envelopes("o-1", 1))
    assert len(http_receiver.requests) == 1


def test_a_relative_endpoint_is_refused() -> None:
    with pytest.raises(ChannelConfigurationError, match="absolute"):
        EventGridChannel.from_key("/api/events", KEY)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        datetime(2024, 1, 2, 5, 4, 5, 1, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_times_are_measured_as_the_sdk_writes_them(moment: datetime) -> None:
    from azure.eventgrid._legacy._generated._serialization import Serializer  # the SDK's own, to pin the format

    assert sdk_time(moment) == Serializer.serialize_iso(moment)
