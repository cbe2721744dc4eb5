"""A small aggregate with a snapshot policy, shared by the access-strategy and request-count tests."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from messagehandler import Event, EventSourced, SnapshotPolicy
from messagehandler.personal import PersonalData

COUNTER = "Counter"


class Added(Event, type_name="tests.Added"):
    amount: int


class CounterState(BaseModel):
    total: int = 0
    count: int = 0


class Counter(EventSourced, stream_type=COUNTER, snapshots=SnapshotPolicy(CounterState, every=5)):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.total = 0
        self.count = 0

    def add(self, amount: int) -> None:
        self.emit(Added(amount=amount))

    def apply_added(self, event: Added) -> None:
        self.total += event.amount
        self.count += 1

    @staticmethod
    def is_unit(name: str) -> bool:
        return name in {"ones", "tens", "hundreds", "thousands"}  # a set of strings: its order varies between processes


class Plain(EventSourced, stream_type=COUNTER):
    """The same stream as `Counter`, without snapshots: what a full replay gives."""

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.total = 0
        self.count = 0

    def apply_added(self, event: Added) -> None:
        self.total += event.amount
        self.count += 1


class Named(Event, type_name="tests.Named"):
    name: Annotated[str, PersonalData(erased="")]


class Person(EventSourced, stream_type="Person"):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.name = ""

    def rename(self, name: str) -> None:
        self.emit(Named(name=name))

    def apply_named(self, event: Named) -> None:
        self.name = event.name
