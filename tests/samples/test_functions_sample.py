"""The sample Functions app (samples/functions), its functions called as the Functions host would call them:
with trigger inputs built as the runtime builds them, against Azurite."""

from __future__ import annotations

import base64
import contextlib
import importlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.functions import EventHubEvent
from azure.functions.queue import QueueMessage
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue.aio import QueueClient

from messagehandler import AggregateRepository, EventTypeRegistry, JsonEventSerializer
from messagehandler.channels import CloudEvent
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.search.sqlite import SqliteSearchIndex
from messagehandler.testing import recorded
from samples.organization.domain import Organization, OrganizationRegistered, OrganizationRenamed
from samples.organization.search import SearchEntry
from tests.docs.blocks import ROOT, blocks

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

pytestmark = pytest.mark.azurite
SERIALIZER = JsonEventSerializer(EventTypeRegistry([OrganizationRegistered, OrganizationRenamed]))


@pytest.fixture
async def sample(azurite: AzuriteProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ModuleType]:
    table = f"fn{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("EVENTS_TABLE", table)
    monkeypatch.setenv("SEARCH_INDEX", str(tmp_path / "organizations.sqlite"))
    module = importlib.reload(importlib.import_module("samples.functions.function_app"))
    module.declared = {f.get_function_name(): f for f in module.app.get_functions()}  # validated once
    yield module
    for resource in module._resources.values():
        if hasattr(resource, "close"):
            await resource.close()
    for name in ("organizations", "organizations-poison"):
        async with QueueClient.from_connection_string(azurite.connection_string, name) as queue:
            with contextlib.suppress(ResourceNotFoundError):
                await queue.delete_queue()


def function(module: ModuleType, name: str) -> Callable[..., Any]:
    return module.declared[name].get_user_function()  # type: ignore[no-any-return]


def registered(stream: str, name: str, version: int = 1) -> CloudEvent:
    (event,) = recorded("Organization", stream, [OrganizationRegistered(name=name)], start_version=version)
    return CloudEvent.from_event(event, SERIALIZER)


async def names(tmp_path: Path) -> dict[str, str]:
    index = SqliteSearchIndex(SearchEntry, tmp_path / "organizations.sqlite")
    try:
        return {hit.id: hit.record.name for hit in await index.search("*", top=50)}
    finally:
        await index.close()


def test_the_app_declares_its_four_triggers(sample: ModuleType) -> None:
    kinds = {name: [b.type for b in f.get_bindings()] for name, f in sample.declared.items()}

    assert kinds == {
        "organizations_queue": ["queueTrigger"],
        "organizations_service_bus": ["serviceBusTrigger"],
        "organizations_event_hub": ["eventHubTrigger"],
        "outbox_relay": ["timerTrigger"],
    }


async def test_queue_service_bus_and_event_hubs_triggers_project_into_the_index(
    sample: ModuleType, tmp_path: Path
) -> None:
    queued, bussed, streamed = (
        registered("acme", "Acme"),
        registered("globex", "Globex"),
        registered("initech", "Initech"),
    )

    await function(sample, "organizations_queue")(QueueMessage(id="q-1", body=queued.to_bytes(), dequeue_count=1))
    await function(sample, "organizations_service_bus")(
        ServiceBusMessage(
            body=bussed.to_bytes(),
            content_type="application/cloudevents+json",
            message_id="sb-1",
            application_properties={},
            user_properties={},
            delivery_count=0,
        )
    )
    await function(sample, "organizations_event_hub")(
        [EventHubEvent(body=streamed.to_bytes(), sequence_number=7), EventHubEvent(body=b"not json", sequence_number=8)]
    )

    assert await names(tmp_path) == {"acme": "Acme", "globex": "Globex", "initech": "Initech"}


async def test_a_queue_message_that_is_no_cloud_event_goes_to_the_poison_queue_and_the_function_returns(
    sample: ModuleType, azurite: AzuriteProcess
) -> None:
    await function(sample, "organizations_queue")(QueueMessage(id="q-bad", body=b"[" * 30000, dequeue_count=1))

    async with QueueClient.from_connection_string(azurite.connection_string, "organizations-poison") as poison:
        (message,) = [m async for m in poison.receive_messages()]
    assert base64.b64decode(message.content) == b"[" * 30000


async def test_a_service_bus_message_that_is_no_cloud_event_is_left_to_the_runtime(sample: ModuleType) -> None:
    from messagehandler.functions import RetryMessageError

    with pytest.raises(RetryMessageError, match="not a CloudEvent"):
        await function(sample, "organizations_service_bus")(
            ServiceBusMessage(body=b"{}", message_id="sb-bad", application_properties={}, user_properties={})
        )


async def test_the_timer_relays_the_outbox_to_the_queue(
    sample: ModuleType, azurite: AzuriteProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("messagehandler.channels.relay.DEFAULT_MIN_AGE", timedelta(0))  # relays the row at once
    async with AzureTableStorageEventSource.from_connection_string(
        azurite.connection_string, sample.settings()[1], registry=SERIALIZER.registry, outbox=True
    ) as source:
        repository = AggregateRepository(source)
        (await repository.get(Organization, "acme")).register("Acme")
        await repository.flush()
        await function(sample, "outbox_relay")(TimerRequest(past_due=True))

        async with QueueClient.from_connection_string(azurite.connection_string, "organizations") as queue:
            relayed = [CloudEvent.from_json(base64.b64decode(m.content)) async for m in queue.receive_messages()]
        assert [envelope.stream_id for envelope in relayed] == ["acme"]
        assert [entry async for entry in source.pending("Organization")] == []
        await source.table_client.delete_table()


def test_the_documentation_shows_the_tested_app() -> None:
    page = ROOT / "docs" / "production.md"
    shown = [block for block in blocks(page) if "func.FunctionApp()" in block.code]

    assert len(shown) == 1
    assert shown[0].skip_reason is not None
    assert shown[0].code == (ROOT / "samples" / "functions" / "function_app.py").read_text()
