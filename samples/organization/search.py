"""The organization sample's read model: one search entry per organization, built by a projection."""

from __future__ import annotations

from pydantic import BaseModel, Field

from messagehandler.projections import Projection
from samples.organization.domain import OrganizationRegistered, OrganizationRenamed


class SearchEntry(BaseModel):
    """What the search index holds for an organization; defaults let the projector create an empty one."""

    id: str = ""
    name: str = ""
    country: str | None = None
    former_names: list[str] = Field(default_factory=list)


class SearchEntryProjection(Projection[SearchEntry]):
    def project_registered(self, record: SearchEntry, event: OrganizationRegistered) -> None:
        record.id = event.metadata.source_id
        record.name = event.name
        record.country = event.country

    def project_renamed(self, record: SearchEntry, event: OrganizationRenamed) -> None:
        record.former_names.append(record.name)
        record.name = event.name
