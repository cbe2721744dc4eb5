"""An organization aggregate with two events, as in the seed."""

from __future__ import annotations

from messagehandler import Event, EventSourced


class OrganizationRegistered(Event, type_name="OrganizationRegistered"):
    name: str
    country: str | None = None


class OrganizationRenamed(Event, type_name="OrganizationRenamed"):
    name: str


class Organization(EventSourced, stream_type="Organization"):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.name: str | None = None
        self.country: str | None = None
        self.registered = False

    def register(self, name: str, country: str | None = None) -> None:
        if self.registered:
            raise ValueError(f"organization {self.id} is already registered")
        self.emit(OrganizationRegistered(name=name, country=country))

    def rename(self, name: str) -> None:
        if not self.registered:
            raise ValueError(f"organization {self.id} is not registered")
        if name != self.name:
            self.emit(OrganizationRenamed(name=name))

    def apply_registered(self, event: OrganizationRegistered) -> None:
        self.registered = True
        self.name = event.name
        self.country = event.country

    def apply_renamed(self, event: OrganizationRenamed) -> None:
        self.name = event.name
