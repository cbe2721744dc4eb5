"""Event classes with personal data, shared by the personal-data tests."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from messagehandler import Event
from messagehandler.personal import DataSubject, PersonalData


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
