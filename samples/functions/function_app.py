import os

import azure.functions as func

from messagehandler import EventTypeRegistry, JsonEventSerializer
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.functions import FunctionProcessor, relay_on_timer, storage_poison_queue
from messagehandler.processing import ProjectionAction, transform
from messagehandler.projections import Projector
from messagehandler.search.sqlite import SqliteSearchIndex
from samples.organization.domain import OrganizationRegistered, OrganizationRenamed
from samples.organization.search import SearchEntry, SearchEntryProjection

app = func.FunctionApp()
registry = EventTypeRegistry([OrganizationRegistered, OrganizationRenamed])
_resources: dict[str, object] = {}


class EveryEvent:
    name = "every-event"

    def build(self, stream):  # type: ignore[no-untyped-def]
        return stream.pipe(transform(lambda context: context.message))


def settings() -> tuple[str, str, str]:
    return (
        os.environ["AzureWebJobsStorage"],  # noqa: SIM112 - the name the Functions host gives it
        os.environ.get("EVENTS_TABLE", "Events"),
        os.environ.get("SEARCH_INDEX", "/tmp/organizations.sqlite"),  # noqa: S108 - a sample's default
    )


async def processor() -> FunctionProcessor:
    """Built on the first invocation, on the worker's event loop, and kept for the next ones."""
    if "processor" not in _resources:
        connection_string, table, index_path = settings()
        source = _resources["source"] = AzureTableStorageEventSource.from_connection_string(
            connection_string, table, registry=registry
        )
        index = _resources["index"] = SqliteSearchIndex(SearchEntry, index_path)
        projection = ProjectionAction(Projector(source, SearchEntryProjection), index, SearchEntry)
        _resources["processor"] = FunctionProcessor(
            JsonEventSerializer(registry),
            poison_queue=storage_poison_queue(connection_string, "organizations"),
            name="organizations",
        ).add(EveryEvent(), projection)
    return _resources["processor"]  # type: ignore[return-value]


@app.queue_trigger(arg_name="message", queue_name="organizations", connection="AzureWebJobsStorage")
async def organizations_queue(message: func.QueueMessage) -> None:
    await (await processor()).queue_message(message)


@app.service_bus_queue_trigger(arg_name="message", queue_name="organizations", connection="ServiceBusConnection")
async def organizations_service_bus(message: func.ServiceBusMessage) -> None:
    await (await processor()).service_bus_message(message)


@app.event_hub_message_trigger(
    arg_name="events", event_hub_name="organizations", connection="EventHubConnection", cardinality="many"
)
async def organizations_event_hub(events: list[func.EventHubEvent]) -> None:
    await (await processor()).event_hub_events(events)


@app.timer_trigger(arg_name="timer", schedule="*/30 * * * * *")
async def outbox_relay(timer: func.TimerRequest) -> None:
    if "relay" not in _resources:
        connection_string, table, _ = settings()
        source = _resources["outbox"] = AzureTableStorageEventSource.from_connection_string(
            connection_string, table, registry=registry, outbox=True
        )
        queue = _resources["queue"] = StorageQueueChannel.from_connection_string(connection_string, "organizations")
        dispatcher = Dispatcher(serializer=JsonEventSerializer(registry)).add_channel(queue)
        dispatcher.route("Organization").to(queue.name)
        _resources["relay"] = OutboxRelay(source, dispatcher)
    await relay_on_timer(_resources["relay"], timer)
