"""Process managers decide from their own state and the events they receive, once per message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from messagehandler import Event, EventTypeRegistry, InMemoryEventSource
from messagehandler.channels import CloudEvent
from messagehandler.errors import HandlerDefinitionError
from messagehandler.processmanagers import ProcessManager, ProcessManagerAction, TimeoutScheduled
from messagehandler.testing import recorded
from tests.processmanagers.fulfilment import (
    CancelOrder,
    Fulfilment,
    OrderPlaced,
    PaymentReceived,
    ReserveStock,
    ShipOrder,
)


class Commands:
    def __init__(self, failures: int = 0) -> None:
        self.handled: list[tuple[str, BaseModel]] = []
        self.failures = failures

    async def __call__(self, command_id: str, command: BaseModel) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the order service is down")
        self.handled.append((command_id, command))


class Timeouts:
    def __init__(self) -> None:
        self.scheduled: list[tuple[CloudEvent, datetime]] = []

    async def schedule(self, envelopes: Sequence[CloudEvent], at: datetime) -> None:
        self.scheduled += [(envelope, at) for envelope in envelopes]


def event(stream_type: str, stream_id: str, payload: Event) -> Event:
    (stamped,) = recorded(stream_type, stream_id, [payload])
    return stamped


def setup(failures: int = 0) -> tuple[ProcessManagerAction[Fulfilment], Commands, Timeouts, InMemoryEventSource]:
    source = InMemoryEventSource(EventTypeRegistry([OrderPlaced, PaymentReceived]))
    commands, timeouts = Commands(failures), Timeouts()
    return ProcessManagerAction(Fulfilment, source, commands, scheduler=timeouts), commands, timeouts, source


def arrived(timeouts: Timeouts, action: ProcessManagerAction[Fulfilment], index: int = -1) -> Event:
    """The scheduled timeout as it arrives on the channel, decoded by the host's serializer."""
    envelope, _ = timeouts.scheduled[index]
    return envelope.to_event(action.serializer)


async def test_an_order_reserves_stock_once_however_often_its_event_is_delivered() -> None:
    action, commands, timeouts, source = setup()
    placed = event("Order", "o-1", OrderPlaced(order_id="o-1"))

    assert await action.handle(placed) is True
    version = len(await source.load("Fulfilment", "o-1"))
    assert await action.handle(placed) is False

    assert [command for _, command in commands.handled] == [ReserveStock(order_id="o-1")]
    assert len(await source.load("Fulfilment", "o-1")) == version, "a redelivery stores nothing"
    ((envelope, due),) = timeouts.scheduled
    assert envelope.type == "messagehandler.TimeoutScheduled"
    assert timedelta(seconds=1) < due - datetime.now(UTC) <= timedelta(seconds=2)


async def test_a_command_that_failed_is_delivered_on_redelivery_with_the_same_id_without_deciding_again() -> None:
    action, commands, _, source = setup(failures=1)
    placed = event("Order", "o-1", OrderPlaced(order_id="o-1"))

    with pytest.raises(ConnectionError):
        await action.handle(placed)
    manager = Fulfilment("o-1")
    manager.restore_from(await source.load("Fulfilment", "o-1"))
    (owed,) = manager.undelivered
    assert await action.handle(placed) is False

    assert commands.handled == [(owed, ReserveStock(order_id="o-1"))]


async def test_payment_ships_and_the_cancelled_timeout_changes_nothing_when_it_arrives() -> None:
    action, commands, timeouts, _ = setup()
    await action.handle(event("Order", "o-1", OrderPlaced(order_id="o-1")))
    await action.handle(event("Payment", "p-1", PaymentReceived(order_id="o-1")))
    timeout = arrived(timeouts, action)
    object.__setattr__(timeout, "due", datetime.now(UTC) - timedelta(seconds=1))

    assert await action.handle(timeout) is True
    assert [command for _, command in commands.handled] == [ReserveStock(order_id="o-1"), ShipOrder(order_id="o-1")]


async def test_an_unpaid_order_is_cancelled_when_its_timeout_arrives_and_an_early_copy_is_ignored() -> None:
    action, commands, timeouts, _ = setup()
    await action.handle(event("Order", "o-2", OrderPlaced(order_id="o-2")))
    timeout = arrived(timeouts, action)
    assert isinstance(timeout, TimeoutScheduled)

    assert await action.handle(timeout) is False, "before its due time: a copy that skipped the scheduler"
    object.__setattr__(timeout, "due", datetime.now(UTC) - timedelta(seconds=1))
    assert await action.handle(timeout) is True
    assert await action.handle(timeout) is False

    assert [command for _, command in commands.handled] == [
        ReserveStock(order_id="o-2"),
        CancelOrder(order_id="o-2", reason="no payment in time"),
    ]


async def test_events_of_no_process_are_ignored_and_declarations_are_checked() -> None:
    action, commands, _, _ = setup()

    class Unrelated(Event, type_name="test.Unrelated"):
        pass

    assert await action.handle(event("Other", "x", Unrelated())) is False
    assert commands.handled == []

    class Forgetful(ProcessManager):
        pass

    with pytest.raises(HandlerDefinitionError, match="must implement correlate"):
        Forgetful.correlate(Unrelated())

    class Stray(BaseModel):
        pass

    manager = Fulfilment("o-9")
    with pytest.raises(HandlerDefinitionError, match="does not list"):
        manager.issue(Stray())
    with pytest.raises(HandlerDefinitionError, match="has no timed_out"):
        Forgetful("f").timed_out("late")
