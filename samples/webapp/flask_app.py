"""The Flask sample: blocking views sharing one event source through `SyncEventStore`.

The same routes as the FastAPI sample. Flask has no event loop: `asyncio.run` per request would make
the second request fail (`Event loop is closed`), so the store keeps the source on a private loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, request

from messagehandler import ConcurrencyError
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.eventsource.protocol import EventSource
from messagehandler.search import SqliteSearchIndex
from messagehandler.sync import SyncEventStore, SyncRepository
from samples.organization import Organization
from samples.organization.search import SearchEntry
from samples.webapp.organizations import TABLE, Register, Rename, reindex, view


def from_environment() -> EventSource:
    return AzureTableStorageEventSource.from_connection_string(
        os.environ["MESSAGEHANDLER_CONNECTION_STRING"], os.environ.get("MESSAGEHANDLER_TABLE", TABLE)
    )


def create_app(make_source: Callable[[], EventSource] = from_environment, index_path: str = ":memory:") -> Flask:
    """The store opens with the app; call `app.extensions["messagehandler"].close()` at shutdown."""
    store = SyncEventStore(make_source)

    async def open_index() -> SqliteSearchIndex[SearchEntry]:
        return SqliteSearchIndex(SearchEntry, index_path)

    index = store.run(open_index())
    app = Flask(__name__)
    app.extensions["messagehandler"] = store

    def body(model: Any) -> Any:
        return model.model_validate(request.get_json(force=True))

    @app.post("/organizations/<org_id>")
    def register_organization(org_id: str) -> tuple[dict[str, Any], int]:
        command = body(Register)
        repository = store.repository()
        org = repository.get(Organization, org_id)
        if org.registered:
            abort(409, f"organization {org_id} is already registered")
        org.register(command.name, command.country)
        try:
            repository.flush()
        except ConcurrencyError:
            abort(409, f"organization {org_id} is already registered")
        store.run(reindex(store.source, index, org_id))
        return view(org).model_dump(), 201

    @app.post("/organizations/<org_id>/rename")
    def rename_organization(org_id: str) -> dict[str, Any]:
        command = body(Rename)

        def rename(repository: SyncRepository) -> Organization:
            org = repository.get(Organization, org_id)
            if not org.registered:
                abort(404, f"no organization {org_id}")
            org.rename(command.name)
            return org

        org = store.retry_on_conflict(rename, attempts=10)
        store.run(reindex(store.source, index, org_id))
        return view(org).model_dump()

    @app.get("/organizations/<org_id>")
    def get_organization(org_id: str) -> dict[str, Any]:
        org = store.repository().get(Organization, org_id)
        if not org.registered:
            abort(404, f"no organization {org_id}")
        return view(org).model_dump()

    @app.get("/search")
    def search() -> list[dict[str, Any]]:
        return [hit.record.model_dump() for hit in store.run(index.search(request.args["q"]))]

    return app
