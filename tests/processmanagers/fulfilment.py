"""A process manager for the tests: an order is fulfilled once paid, or cancelled when payment times out."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from messagehandler import Event
from messagehandler.processmanagers import ProcessManager

PAYMENT_WINDOW = timedelta(seconds=2)


class OrderPlaced(Event, type_name="test.OrderPlaced"):
    order_id: str


class PaymentReceived(Event, type_name="test.PaymentReceived"):
    order_id: str


class FulfilmentStarted(Event, type_name="test.FulfilmentStarted"):
    order_id: str


class FulfilmentPaid(Event, type_name="test.FulfilmentPaid"):
    pass


class ReserveStock(BaseModel):
    order_id: str


class ShipOrder(BaseModel):
    order_id: str


class CancelOrder(BaseModel):
    order_id: str
    reason: str


class Fulfilment(ProcessManager, stream_type="Fulfilment"):
    commands = (ReserveStock, ShipOrder, CancelOrder)

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.started = False
        self.paid = False

    @classmethod
    def correlate(cls, event: Event) -> str | None:
        return getattr(event, "order_id", None)

    def react_placed(self, event: OrderPlaced) -> None:
        if not self.started:
            self.emit(FulfilmentStarted(order_id=event.order_id))
            self.issue(ReserveStock(order_id=event.order_id))
            self.schedule("payment", PAYMENT_WINDOW)

    def react_paid(self, event: PaymentReceived) -> None:
        if self.started and not self.paid:
            self.emit(FulfilmentPaid())
            self.cancel_timeout("payment")
            self.issue(ShipOrder(order_id=self.id))

    def timed_out(self, name: str) -> None:
        if name == "payment" and not self.paid:
            self.issue(CancelOrder(order_id=self.id, reason="no payment in time"))

    def apply_started(self, event: FulfilmentStarted) -> None:
        self.started = True

    def apply_paid(self, event: FulfilmentPaid) -> None:
        self.paid = True
