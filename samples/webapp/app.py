"""The FastAPI sample: a lifespan-managed event source, commands with conflict retry, search queries.

POST /organizations/{id}          {"name": "Acme", "country": "BE"}   register
POST /organizations/{id}/rename   {"name": "Acme NV"}                 rename, retried on a conflict
GET  /organizations/{id}                                              the aggregate's state
GET  /search?q=acme                                                   the search index
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request

from messagehandler import AggregateRepository, ConcurrencyError, retry_on_conflict
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.eventsource.protocol import EventSource
from messagehandler.search import SqliteSearchIndex
from samples.organization import Organization
from samples.organization.search import SearchEntry
from samples.webapp.organizations import TABLE, OrganizationView, Register, Rename, reindex, view


def from_environment() -> EventSource:
    return AzureTableStorageEventSource.from_connection_string(
        os.environ["MESSAGEHANDLER_CONNECTION_STRING"], os.environ.get("MESSAGEHANDLER_TABLE", TABLE)
    )


def create_app(make_source: Callable[[], EventSource] = from_environment, index_path: str = ":memory:") -> FastAPI:
    """One source and one index for the application's lifetime, opened and closed by the lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        source = make_source()
        index = SqliteSearchIndex(SearchEntry, index_path)
        app.state.source, app.state.index = source, index
        try:
            yield
        finally:
            await index.close()
            await source.close()

    app = FastAPI(title="organizations", lifespan=lifespan)

    def parts(request: Request) -> tuple[EventSource, SqliteSearchIndex[SearchEntry]]:
        return request.app.state.source, request.app.state.index

    @app.post("/organizations/{org_id}", status_code=201)
    async def register_organization(org_id: str, command: Register, request: Request) -> OrganizationView:
        source, index = parts(request)
        repository = AggregateRepository(source)
        org = await repository.get(Organization, org_id)
        if org.registered:
            raise HTTPException(409, f"organization {org_id} is already registered")
        org.register(command.name, command.country)
        try:
            await repository.flush()
        except ConcurrencyError:
            raise HTTPException(409, f"organization {org_id} is already registered") from None
        await reindex(source, index, org_id)
        return view(org)

    @app.post("/organizations/{org_id}/rename")
    async def rename_organization(org_id: str, command: Rename, request: Request) -> OrganizationView:
        source, index = parts(request)

        async def rename(repository: AggregateRepository) -> Organization:
            org = await repository.get(Organization, org_id)
            if not org.registered:
                raise HTTPException(404, f"no organization {org_id}")
            org.rename(command.name)
            return org

        org = await retry_on_conflict(source, rename, attempts=10)
        await reindex(source, index, org_id)
        return view(org)

    @app.get("/organizations/{org_id}")
    async def get_organization(org_id: str, request: Request) -> OrganizationView:
        org = await AggregateRepository(parts(request)[0]).get(Organization, org_id)
        if not org.registered:
            raise HTTPException(404, f"no organization {org_id}")
        return view(org)

    @app.get("/search")
    async def search(q: str, request: Request) -> list[SearchEntry]:
        return [hit.record for hit in await parts(request)[1].search(q)]

    return app


app = create_app()  # for `uvicorn samples.webapp.app:app`: the source opens at start-up, not at import
