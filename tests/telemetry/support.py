"""A channel whose broker can be taken down, and a flush through a dispatcher, for the telemetry tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from messagehandler import AggregateRepository, EventSource
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import ChannelUnavailableError
from messagehandler.channels.volatile.in_process import InProcessChannel
from samples.organization.domain import Organization

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan


class Outage(InProcessChannel):
    """The in-process channel, except that while `down` every publish fails as a broker outage would."""

    def __init__(self, name: str = "orders") -> None:
        super().__init__(name)
        self.down = False

    async def publish(self, envelopes: Sequence[CloudEvent]) -> None:
        if self.down:
            raise ChannelUnavailableError(f"channel {self.name!r}: the broker is down")
        await super().publish(envelopes)


def dispatcher_to(channel: InProcessChannel) -> Dispatcher:
    return Dispatcher().add_channel(channel).route("Organization").to(channel.name)


async def register(source: EventSource, dispatcher: Dispatcher | None, org_id: str, name: str = "Acme") -> None:
    repository = AggregateRepository(source, dispatcher=dispatcher)
    org = Organization(org_id)
    org.register(name)
    repository.add(org)
    await repository.flush()


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def hex_ids(span: object) -> tuple[str, str]:
    context = span.context  # type: ignore[attr-defined]
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
