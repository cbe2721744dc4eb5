"""Event classes with personal data, shared by the personal-data tests."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from messagehandler import Event, EventSourced
from messagehandler.personal import DataSubject, PersonalData
from messagehandler.projections import Projection


class Address(BaseModel):
    street: Annotated[str, PersonalData(erased="")]
    city: str


class CustomerRegistered(Event, type_name="tests.personal.CustomerRegistered"):
    name: Annotated[str, PersonalData(erased="(erased)")]
    email: Annotated[str | None, PersonalData] = None
    address: Address | None = None
    plan: str = "basic"


class CustomerMoved(Event, type_name="tests.personal.CustomerMoved"):
    addresses: list[Address]


class OrderPlaced(Event, type_name="tests.personal.OrderPlaced"):
    customer_id: Annotated[str, DataSubject]
    delivery_note: Annotated[str, PersonalData(erased="")]
    amount: int


class PlanChanged(Event, type_name="tests.personal.PlanChanged"):
    plan: str


class Customer(EventSourced, stream_type="Customer"):
    """Replays to a name, an e-mail and a plan; after erasure the name reads "(erased)" and the e-mail None."""

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.name = ""
        self.email: str | None = None
        self.plan = "basic"

    def register(self, name: str, email: str, street: str = "Main 1") -> None:
        self.emit(CustomerRegistered(name=name, email=email, address=Address(street=street, city="Gent")))

    def change_plan(self, plan: str) -> None:
        self.emit(PlanChanged(plan=plan))

    def apply_registered(self, event: CustomerRegistered) -> None:
        self.name = event.name
        self.email = event.email

    def apply_plan(self, event: PlanChanged) -> None:
        self.plan = event.plan


CUSTOMER_TYPES = (CustomerRegistered, CustomerMoved, OrderPlaced, PlanChanged)


class CustomerCard(BaseModel):
    name: str = ""
    email: str | None = None


class CustomerCardProjection(Projection[CustomerCard]):
    """For the operator command's `restore --projection tests.personal.events:CustomerCardProjection`."""

    def project_registered(self, record: CustomerCard, event: CustomerRegistered) -> None:
        record.name, record.email = event.name, event.email
