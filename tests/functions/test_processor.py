"""FunctionProcessor's rules: how each outcome of the worker's rules ends a function invocation."""

from __future__ import annotations

from typing import Any

import pytest
from azure.functions import EventHubEvent
from azure.functions.queue import QueueMessage
from azure.functions.servicebus import ServiceBusMessage

from messagehandler.channels.transactional.servicebus_messages import to_message
from messagehandler.functions import FunctionProcessor, RetryMessageError, relay_on_timer
from messagehandler.processing import ActionableContext
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.channels.malformed import malformed_bodies
from tests.channels.support import SERIALIZER, envelopes


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.seen: list[str] = []
        self.fail = fail

    async def __call__(self, outcome: ActionableContext[EventSummary]) -> None:
        if self.fail:
            raise RuntimeError("the read model is down")
        self.seen.append(outcome.message.event_id)


def queue_message(body: bytes, dequeue_count: int = 1) -> QueueMessage:
    return QueueMessage(id="m-1", body=body, dequeue_count=dequeue_count)


async def test_a_failed_action_asks_the_runtime_to_deliver_again_until_the_last_attempt_sets_it_aside() -> None:
    aside: list[tuple[bytes, str]] = []

    async def poison(body: bytes, reason: str) -> None:
        aside.append((body, reason))

    processor = FunctionProcessor(SERIALIZER, max_attempts=3, poison_queue=poison).add(
        SummaryQuery(), Recorder(fail=True)
    )
    (envelope,) = envelopes("o-1", 1)

    for attempt in (1, 2):
        with pytest.raises(RetryMessageError, match="delivers it again"):
            await processor.queue_message(queue_message(envelope.to_bytes(), attempt))
    assert aside == []
    await processor.queue_message(queue_message(envelope.to_bytes(), 3))

    ((body, reason),) = aside
    assert body == envelope.to_bytes()
    assert "the read model is down" in reason


MALFORMED = malformed_bodies(envelopes("template", 1)[0])


@pytest.mark.parametrize("name", MALFORMED)
async def test_a_malformed_queue_message_is_set_aside_at_once_and_the_next_one_runs(name: str) -> None:
    aside: list[tuple[bytes, str]] = []

    async def poison(body: bytes, reason: str) -> None:
        aside.append((body, reason))

    recorder = Recorder()
    processor = FunctionProcessor(SERIALIZER, max_attempts=3, poison_queue=poison).add(SummaryQuery(), recorder)
    (good,) = envelopes("o-1", 1)

    await processor.queue_message(queue_message(MALFORMED[name]))
    await processor.queue_message(queue_message(good.to_bytes()))

    ((body, reason),) = aside
    assert body == MALFORMED[name]
    assert reason.startswith("not a CloudEvent")
    assert recorder.seen == [good.id]


@pytest.mark.parametrize("name", MALFORMED)
async def test_without_a_poison_queue_a_message_to_set_aside_is_left_to_the_runtime(name: str) -> None:
    processor = FunctionProcessor(SERIALIZER).add(SummaryQuery(), Recorder())

    with pytest.raises(RetryMessageError, match="not a CloudEvent"):
        await processor.queue_message(queue_message(MALFORMED[name]))


async def test_a_binary_mode_service_bus_message_is_decoded_as_the_receiver_decodes_it() -> None:
    recorder = Recorder()
    processor = FunctionProcessor(SERIALIZER).add(SummaryQuery(), recorder)
    (envelope,) = envelopes("o-1", 1)
    sdk = to_message(envelope, sessions=False)
    properties: dict[str, Any] = {
        str(k): (v["VALUE"] if isinstance(v, dict) else v) for k, v in (sdk.application_properties or {}).items()
    }

    await processor.service_bus_message(
        ServiceBusMessage(
            body=envelope.data.encode(),
            content_type=sdk.content_type,
            message_id=envelope.id,
            application_properties=properties,
            user_properties={},
            delivery_count=2,
        )
    )

    assert recorder.seen == [envelope.id]


async def test_an_event_hubs_batch_is_retried_whole_when_an_action_fails_and_skips_what_it_cannot_decode() -> None:
    failing = FunctionProcessor(SERIALIZER).add(SummaryQuery(), Recorder(fail=True))
    recorder = Recorder()
    working = FunctionProcessor(SERIALIZER).add(SummaryQuery(), recorder)
    sent = envelopes("o-1", 2)
    batch = [EventHubEvent(body=e.to_bytes(), sequence_number=n) for n, e in enumerate(sent)]

    with pytest.raises(RetryMessageError):
        await failing.event_hub_events(batch)
    await working.event_hub_events([*batch, EventHubEvent(body=b"nope", sequence_number=9)])
    await working.event_hub_events([EventHubEvent(body=b"nope", sequence_number=10)])

    assert recorder.seen == [e.id for e in sent]


async def test_an_event_hubs_event_past_its_attempts_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    processor = FunctionProcessor(SERIALIZER, max_attempts=1).add(SummaryQuery(), Recorder(fail=True))
    (envelope,) = envelopes("o-1", 1)

    await processor.event_hub_events([EventHubEvent(body=envelope.to_bytes(), sequence_number=1)])

    assert f"skipping event {envelope.id}" in caplog.text


async def test_the_timer_relay_runs_one_pass() -> None:
    class Relay:
        passes = 0

        async def run_once(self) -> Any:
            self.passes += 1
            from messagehandler.channels.relay import RelayReport

            return RelayReport(entries=1, published=2)

    relay = Relay()
    report = await relay_on_timer(relay, type("Timer", (), {"past_due": True})())

    assert (relay.passes, report.published) == (1, 2)
