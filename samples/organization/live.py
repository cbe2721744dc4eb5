"""The live path of the sample: committed events reach a channel through the outbox, and a processing
host keeps a search index up to date from that channel, one event at a time (the seed's real-time
projection: get the record, project the event, upsert)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from reactivex import Observable

from messagehandler import Event, EventSource, JsonEventSerializer
from messagehandler.channels import Channel, ChannelKind, ChannelReceiver
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.processing import ActionableContext, ProcessingContext, ProcessingHost, channel_source, transform
from messagehandler.processing.actions import ProjectionAction
from messagehandler.projections import Projector
from messagehandler.search import SqliteSearchIndex
from samples.organization.domain import Organization
from samples.organization.search import SearchEntry, SearchEntryProjection


class OrganizationEvents:
    """The standing query of the live path: every event, as it is."""

    name = "organization-events"

    def build(self, stream: Observable[ProcessingContext]) -> Observable[ActionableContext[Event]]:
        return stream.pipe(transform(lambda context: context.message))


@dataclass
class LivePath:
    dispatcher: Dispatcher
    host: ProcessingHost
    index: SqliteSearchIndex[SearchEntry]
    projected: int = 0
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def until_projected(self, count: int) -> None:
        """Wait until the live index has projected `count` events."""
        async with self.progress:
            await self.progress.wait_for(lambda: self.projected >= count)


@contextlib.asynccontextmanager
async def live_path(
    source: EventSource, channel: Channel, receiver: ChannelReceiver, kind: ChannelKind
) -> AsyncIterator[LivePath]:
    """A dispatcher routing organizations to `channel`, and a host projecting from `receiver` into an index."""
    serializer = JsonEventSerializer(source.registry)
    source.registry.register(*Organization.handled_event_types())
    dispatcher = Dispatcher(serializer=serializer).add_channel(channel).route("Organization").to(channel.name)
    async with SqliteSearchIndex(SearchEntry) as index:
        project = ProjectionAction(Projector(source, SearchEntryProjection), index, SearchEntry)

        async def project_and_count(outcome: ActionableContext[Event]) -> None:
            await project(outcome)
            async with live.progress:
                live.projected += 1
                live.progress.notify_all()

        host = ProcessingHost(channel_source(receiver, kind), serializer).add(OrganizationEvents(), project_and_count)
        live = LivePath(dispatcher, host, index)
        async with host:
            yield live
