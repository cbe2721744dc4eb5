"""Actions run in the context of the messages they handle: what they emit is caused by them, shares their
correlation, and lands in their tenant's store."""

from __future__ import annotations

from datetime import timedelta

import reactivex.operators as ops
from reactivex import Observable

from messagehandler import AggregateRepository, EventTypeRegistry, InMemoryEventSource, JsonEventSerializer
from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.volatile.in_process import InProcessChannel
from messagehandler.events.context import MessageContext, current_message_context, message_context
from messagehandler.eventsource.tenants import TenantScopedEventSource
from messagehandler.processing import ActionableContext, ProcessingContext, ProcessingHost, channel_source
from messagehandler.testing import recorded
from samples.organization.domain import Organization, OrganizationRegistered
from samples.processing.telemetry import ReadingRecorded
from tests.processing.fakes import EveryEvent, envelopes, eventually


class PairsOfEvents:
    def build(self, stream: Observable[ProcessingContext]) -> Observable[ActionableContext[int]]:
        return stream.pipe(
            ops.map(lambda context: context.hold()),
            ops.buffer_with_count(2),
            ops.map(lambda pair: ActionableContext.from_many(len(pair), pair)),
        )


def sent(
    serializer: JsonEventSerializer, stream: str, *, tenant: str | None = None, correlation: str | None = None
) -> list[CloudEvent]:
    events = recorded(
        "Plant", stream, [ReadingRecorded(sensor="s", value=1.0)], tenant_id=tenant, correlation_id=correlation
    )
    return envelopes(events, serializer)


async def run(
    query: EveryEvent | PairsOfEvents, messages: list[CloudEvent], serializer: JsonEventSerializer
) -> list[MessageContext]:
    channel = InProcessChannel()
    seen: list[MessageContext] = []

    async def act(outcome: ActionableContext[object]) -> None:
        seen.append(current_message_context())

    host = ProcessingHost(channel_source(channel, wait=timedelta(milliseconds=10)), serializer).add(query, act)
    async with host:
        await channel.publish(messages)
        await eventually(lambda: host.stats.dropped == len(messages), what="every message to leave the host")
    return seen


async def test_an_action_runs_caused_by_its_message_in_its_correlation_and_tenant(
    serializer: JsonEventSerializer,
) -> None:
    first = sent(serializer, "p1", tenant="north", correlation="order-7")
    second = sent(serializer, "p2", tenant="south")

    seen = await run(EveryEvent(), first + second, serializer)

    assert seen == [
        MessageContext(causation_id=first[0].id, correlation_id="order-7", tenant_id="north"),
        MessageContext(causation_id=second[0].id, correlation_id=second[0].id, tenant_id="south"),
    ]
    assert current_message_context() == MessageContext()


async def test_an_outcome_of_several_messages_keeps_only_what_they_share(serializer: JsonEventSerializer) -> None:
    same = sent(serializer, "p1", tenant="north", correlation="c") + sent(
        serializer, "p2", tenant="north", correlation="c"
    )
    mixed = sent(serializer, "p3", tenant="north", correlation="c") + sent(serializer, "p4", tenant="south")

    seen = await run(PairsOfEvents(), same + mixed, serializer)

    assert seen == [MessageContext(correlation_id="c", tenant_id="north"), MessageContext()]


async def test_an_event_emitted_by_an_action_lands_in_the_tenant_of_the_message_it_handles(
    serializer: JsonEventSerializer,
) -> None:
    registry = EventTypeRegistry()
    tenants: dict[str, InMemoryEventSource] = {}

    def source_of(tenant: str, registry: EventTypeRegistry) -> InMemoryEventSource:
        return tenants.setdefault(tenant, InMemoryEventSource(registry))

    store = TenantScopedEventSource(source_of, registry=registry)
    message = sent(serializer, "p1", tenant="north", correlation="order-7")
    channel = InProcessChannel()

    async def register(outcome: ActionableContext[ReadingRecorded]) -> None:
        repository = AggregateRepository(store)
        organization = Organization("acme")
        organization.register("Acme")
        repository.add(organization)
        await repository.flush()

    host = ProcessingHost(channel_source(channel, wait=timedelta(milliseconds=10)), serializer).add(
        EveryEvent(), register
    )
    async with host:
        await channel.publish(message)
        await eventually(lambda: host.stats.dropped == 1, what="the message to leave the host")

    assert host.stats.failed_actions == 0
    assert list(tenants) == ["north"]
    (registered,) = await tenants["north"].load("Organization", "acme")
    assert isinstance(registered, OrganizationRegistered)
    assert (registered.metadata.causation_id, registered.metadata.correlation_id, registered.metadata.tenant_id) == (
        message[0].id,
        "order-7",
        "north",
    )


async def test_a_message_without_a_tenant_keeps_the_tenant_the_host_runs_in(serializer: JsonEventSerializer) -> None:
    own = sent(serializer, "p1", tenant="south")
    untagged = sent(serializer, "p2")

    with message_context(tenant_id="north", who="worker-7"):
        seen = await run(EveryEvent(), own + untagged, serializer)

    assert [(context.tenant_id, context.who) for context in seen] == [("south", "worker-7"), ("north", "worker-7")]
