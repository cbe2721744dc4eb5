"""Every built-in channel as the contract suite wants it: the channel and a probe of its far end.

Each factory is an async context manager yielding a `ChannelUnderTest`; test_channel_contract.py has
one thin `ChannelContract` subclass per factory.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import timedelta
from typing import Any

from messagehandler.channels import ChannelKind, CloudEvent
from messagehandler.channels.volatile import InProcessChannel, verify_webhook
from messagehandler.channels.volatile.http_events import decode_http_request
from messagehandler.testing.channel import ChannelUnderTest, Probe, receiver_probe
from messagehandler.testing.envelopes import Arrived
from tests.channels.http_receiver import HttpReceiver, RecordedRequest

Factory = Callable[[], AbstractAsyncContextManager[ChannelUnderTest]]

WEBHOOK_SECRET = "whsec_Y29udHJhY3Qtd2ViaG9vay1zZWNyZXQtMjQtYnl0ZXM="
EVENT_GRID_KEY = "contract-event-grid-key"


def http_probe(receiver: HttpReceiver, decode: Callable[[RecordedRequest], list[Arrived]]) -> Probe:
    async def probe(expected: int, wait: float) -> list[Arrived]:
        deadline = time.monotonic() + wait
        while True:
            arrived = [item for request in receiver.delivered() for item in decode(request)]
            remaining = deadline - time.monotonic()
            if len(arrived) >= expected or remaining <= 0:
                return arrived
            try:
                await receiver.wait_for(len(receiver.requests) + 1, deadline_seconds=remaining)
            except TimeoutError:
                continue

    return probe


def decode_webhook(request: RecordedRequest) -> list[Arrived]:
    """What a receiver does: verify the Standard Webhooks signature, then decode each CloudEvent."""
    assert verify_webhook(WEBHOOK_SECRET, request.body, dict(request.headers))
    decoded = decode_http_request(dict(request.headers), request.body)
    assert decoded.failures == []
    return [Arrived.of(envelope) for envelope in decoded.envelopes]


def decode_event_grid(request: RecordedRequest) -> list[Arrived]:
    assert request.headers.get("aeg-sas-key") == EVENT_GRID_KEY
    items: list[dict[str, Any]] = json.loads(request.body)
    if request.headers["Content-Type"].startswith("application/cloudevents-batch+json"):
        decoded = decode_http_request(dict(request.headers), request.body)
        assert decoded.failures == []
        return [Arrived.of(envelope) for envelope in decoded.envelopes]
    return [Arrived(item["id"], item["eventType"], item["subject"], item["data"]) for item in items]


@asynccontextmanager
async def in_process() -> AsyncIterator[ChannelUnderTest]:
    channel = InProcessChannel("contract-in-process", max_message_bytes=4096)
    try:
        yield ChannelUnderTest(channel, receiver_probe(channel), ChannelKind.VOLATILE)
    finally:
        await channel.close()


@asynccontextmanager
async def http_endpoint() -> AsyncIterator[HttpReceiver]:
    receiver = await HttpReceiver().start()
    try:
        yield receiver
    finally:
        await receiver.stop()


def webhook(*, batch: bool) -> Factory:
    @asynccontextmanager
    async def factory() -> AsyncIterator[ChannelUnderTest]:
        from messagehandler.channels.volatile.webhook import WebhookChannel

        async with http_endpoint() as receiver:
            channel = WebhookChannel(
                receiver.url, WEBHOOK_SECRET, name="contract-webhook", batch=batch, max_request_bytes=16 * 1024
            )
            try:
                yield ChannelUnderTest(channel, http_probe(receiver, decode_webhook), ChannelKind.VOLATILE)
            finally:
                await channel.close()

    return factory


def event_grid(schema_name: str) -> Factory:
    @asynccontextmanager
    async def factory() -> AsyncIterator[ChannelUnderTest]:
        from messagehandler.channels.volatile.eventgrid import EventGridChannel, EventGridSchema

        async with http_endpoint() as receiver:
            channel = EventGridChannel.from_key(
                receiver.url,
                EVENT_GRID_KEY,
                name="contract-eventgrid",
                schema=EventGridSchema(schema_name),
                max_request_bytes=16 * 1024,
            )
            probe = http_probe(receiver, decode_event_grid)
            try:
                yield ChannelUnderTest(channel, probe, ChannelKind.VOLATILE, wire_size=channel.wire_size)
            finally:
                await channel.close()

    return factory


@asynccontextmanager
async def storage_queue(connection_string: str) -> AsyncIterator[ChannelUnderTest]:
    from messagehandler.channels.transactional.storage_queue import StorageQueueChannel

    channel = StorageQueueChannel.from_connection_string(connection_string, f"contract-{uuid.uuid4().hex[:12]}")
    receiver = channel.receiver(visibility_timeout=timedelta(seconds=30))
    try:
        yield ChannelUnderTest(channel, receiver_probe(receiver), ChannelKind.TRANSACTIONAL)
    finally:
        await receiver.close()
        await channel.close()


def broker_probe(broker: Any, address: str, decode: Callable[[Any], CloudEvent]) -> Probe:
    """What reached `address` on the AMQP test broker, for channels read without a receiver."""

    async def probe(expected: int, wait: float) -> list[Arrived]:
        with suppress(TimeoutError):
            await asyncio.to_thread(broker.wait_until, lambda: len(broker.delivered(address)) >= expected, wait)
        return [Arrived.of(decode(delivered.message)) for delivered in broker.delivered(address)]

    return probe


@asynccontextmanager
async def service_bus() -> AsyncIterator[ChannelUnderTest]:
    from messagehandler.channels.transactional.servicebus import ServiceBusChannel, encoded_size
    from messagehandler.channels.transactional.servicebus_messages import to_message
    from tests.support.amqp_broker import running_broker

    with running_broker() as broker:
        channel = ServiceBusChannel.from_connection_string(
            broker.connection_string(), queue_name="contract", max_message_bytes=16 * 1024, retry_total=0
        )
        receiver = channel.receiver()
        try:
            yield ChannelUnderTest(
                channel,
                receiver_probe(receiver),
                ChannelKind.TRANSACTIONAL,
                wire_size=lambda envelope: encoded_size(to_message(envelope, sessions=False)),
            )
        finally:
            await receiver.close()
            await channel.close()


@asynccontextmanager
async def event_hubs() -> AsyncIterator[ChannelUnderTest]:
    from messagehandler.channels.streaming.eventhubs import EventHubChannel, encoded_size, to_event_data
    from tests.support.amqp_broker import running_broker

    with running_broker() as broker:
        channel = EventHubChannel.from_connection_string(
            broker.connection_string(), eventhub_name="contract", max_message_bytes=16 * 1024, retry_total=0
        )
        try:
            yield ChannelUnderTest(
                channel,
                broker_probe(broker, "contract", lambda message: CloudEvent.from_json(message.body)),
                ChannelKind.STREAMING,
                wire_size=lambda envelope: encoded_size(to_event_data(envelope), envelope.stream_id),
            )
        finally:
            await channel.close()
