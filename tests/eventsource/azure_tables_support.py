"""Events and helpers shared by the Table Storage tests."""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient

from messagehandler import Event
from messagehandler.testing import recorded
from samples.organization import OrganizationRegistered, OrganizationRenamed

ORG = "Organization"


class Note(Event, type_name="Note"):
    text: str


def history(stream_id: str, count: int, *, start_version: int = 1) -> list[Event]:
    events: list[Event] = []
    if start_version == 1 and count:
        events.append(OrganizationRegistered(name=f"{stream_id} 1", country="BE"))
    while len(events) < count:
        events.append(OrganizationRenamed(name=f"{stream_id} {start_version + len(events)}"))
    return recorded(ORG, stream_id, events, start_version=start_version)


def notes(stream_id: str, texts: list[str], *, start_version: int = 1, stream_type: str = ORG) -> list[Event]:
    return recorded(stream_type, stream_id, [Note(text=text) for text in texts], start_version=start_version)


async def raw_rows(table: TableClient) -> list[dict[str, Any]]:
    """Every row of the table as another tool sees it; a table never created holds none."""
    try:
        return [dict(row) async for row in table.list_entities()]
    except ResourceNotFoundError:
        return []


ALL_TYPES = (OrganizationRegistered, OrganizationRenamed, Note)
