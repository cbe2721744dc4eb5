"""Spans of a Functions trigger name the service the trigger reads, like a receiver of that service would."""

from __future__ import annotations

from typing import Any

import pytest
from azure.functions import EventHubEvent
from azure.functions.queue import QueueMessage
from azure.functions.servicebus import ServiceBusMessage

from messagehandler.channels.transactional.servicebus_messages import to_message
from messagehandler.functions import FunctionProcessor
from messagehandler.processing import ActionableContext
from messagehandler.telemetry.attributes import MESSAGING_SYSTEM
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.channels.support import SERIALIZER, envelopes
from tests.telemetry.conftest import Telemetry


async def ignore(outcome: ActionableContext[EventSummary]) -> None:
    pass


def service_bus_message(body: bytes) -> ServiceBusMessage:
    (envelope,) = envelopes("o-1", 1)
    sdk = to_message(envelope, sessions=False)
    properties: dict[str, Any] = {
        str(k): (v["VALUE"] if isinstance(v, dict) else v) for k, v in (sdk.application_properties or {}).items()
    }
    return ServiceBusMessage(
        body=envelope.data.encode(),
        content_type=sdk.content_type,
        message_id=envelope.id,
        application_properties=properties,
        user_properties={},
        delivery_count=0,
    )


@pytest.mark.parametrize("trigger", ["queue", "servicebus", "eventhubs"])
async def test_a_trigger_invocation_is_processed_in_its_service_s_messaging_system(
    telemetry: Telemetry, trigger: str
) -> None:
    processor = FunctionProcessor(SERIALIZER).add(SummaryQuery(), ignore)
    (envelope,) = envelopes("o-1", 1)
    if trigger == "queue":
        await processor.queue_message(QueueMessage(id="m-1", body=envelope.to_bytes(), dequeue_count=1))
    elif trigger == "servicebus":
        await processor.service_bus_message(service_bus_message(envelope.to_bytes()))
    else:
        await processor.event_hub_events([EventHubEvent(body=envelope.to_bytes(), sequence_number=1)])

    (process,) = [span for span in telemetry.spans() if span.name.startswith("process ")]
    expected = {"queue": "azure.storage.queue", "servicebus": "servicebus", "eventhubs": "eventhubs"}[trigger]
    assert process.attributes is not None
    assert process.attributes[MESSAGING_SYSTEM] == expected
