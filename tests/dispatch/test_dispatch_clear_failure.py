"""A clear that fails after publishing succeeded: the flush reports what happened, publishing did not fail.

The dispatcher's result and log say whether the events reached their channels; the entry a failed
clear leaves is the relay's to publish again. Both kinds of outbox are covered: one that clears at
once and one that clears later.
"""

from __future__ import annotations

import logging

import pytest

from messagehandler import AggregateRepository, InMemoryEventSource
from messagehandler.channels import CloudEvent
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.volatile import InProcessChannel
from messagehandler.errors import ServiceUnavailableError
from messagehandler.eventsource.outbox import OutboxEntry
from samples.organization import Organization

ORG = "Organization"


class ClearFailsLater(InMemoryEventSource):
    def clear_later(self, entry: OutboxEntry) -> None:
        raise ServiceUnavailableError("table 'Events' is busy", service="table 'Events'")


class ClearFailsNow(InMemoryEventSource):
    clear_later = None  # type: ignore[assignment]

    async def clear(self, entry: OutboxEntry) -> bool:
        raise ServiceUnavailableError("table 'Events' is busy", service="table 'Events'")


@pytest.mark.parametrize("source_type", [ClearFailsLater, ClearFailsNow], ids=["clear later", "clear now"])
async def test_a_failed_clear_after_publishing_is_no_publishing_failure(
    source_type: type[InMemoryEventSource], caplog: pytest.LogCaptureFixture
) -> None:
    source = source_type(outbox=True)
    channel = InProcessChannel("live")
    seen: list[CloudEvent] = []

    async def record(envelope: CloudEvent) -> None:
        seen.append(envelope)

    channel.subscribe(record)
    dispatcher = Dispatcher().add_channel(channel).route(ORG).to("live")
    org = Organization("acme")
    org.register("Acme")
    repository = AggregateRepository(source)
    repository.add(org)
    await repository.flush()
    [entry] = [e async for e in source.pending(ORG)]
    stored = await source.load(ORG, "acme")

    published = await dispatcher.dispatch(source, entry, stored)

    assert published is True
    assert [e.id for e in seen] == [e.metadata.event_id for e in stored]
    assert "publishing" not in caplog.text
    assert "published Organization/acme, but its outbox entry could not be cleared" in caplog.text
    assert [e async for e in source.pending(ORG)] == [entry]  # left for the relay
    assert all(record.levelno == logging.WARNING for record in caplog.records)
