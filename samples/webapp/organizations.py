"""What both web samples share: the commands and the search read model of the organization sample."""

from __future__ import annotations

from pydantic import BaseModel

from messagehandler.eventsource.protocol import EventSource
from messagehandler.projections import Projector
from messagehandler.search import SqliteSearchIndex
from samples.organization import Organization
from samples.organization.search import SearchEntry, SearchEntryProjection

TABLE = "WebappEvents"


class Register(BaseModel):
    name: str
    country: str | None = None


class Rename(BaseModel):
    name: str


class OrganizationView(BaseModel):
    id: str
    name: str | None
    version: int


def view(org: Organization) -> OrganizationView:
    return OrganizationView(id=org.id, name=org.name, version=org.version)


async def reindex(source: EventSource, index: SqliteSearchIndex[SearchEntry], org_id: str) -> None:
    """Bring one organization's search entry up to date from the store (idempotent, so safe to repeat)."""
    entry = await Projector(source, SearchEntryProjection).restore(SearchEntry, "Organization", org_id)
    if entry is not None:
        await index.upsert({org_id: entry})
