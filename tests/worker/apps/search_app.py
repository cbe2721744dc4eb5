"""A worker app for the rebuild tests: the organization search entries as a LiveReadModel.

TEST_SCHEMA picks the index schema version (the salt), so a test can deploy "new code" beside the old;
events come from the Azure table TEST_TABLE, checkpoints and indexes live in the folder TEST_FOLDER.
`build_app` makes the same app in-process around any event source.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from messagehandler import EventSource, EventTypeRegistry
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.projections import DurableReadModel, FileCheckpointStore, Projector
from messagehandler.projections.live import LiveReadModel
from messagehandler.search.providers import SqliteIndexes
from messagehandler.worker import LeaseStore, WorkerApp, WorkerContext
from samples.organization.domain import OrganizationRegistered, OrganizationRenamed
from samples.organization.search import SearchEntry, SearchEntryProjection


def build_app(
    make_source: Callable[[WorkerContext], EventSource] | None,
    folder: Path | None = None,
    schema: str | None = None,
    leases: LeaseStore | None = None,
) -> WorkerApp:
    """Without `folder` and `schema`, they are read from the environment when the worker starts."""
    app = WorkerApp("search", leases=(lambda context: leases) if leases is not None else None)

    @app.read_model(name="organizations", interval=timedelta(milliseconds=50))
    async def organizations(context: WorkerContext) -> LiveReadModel[SearchEntry]:
        where = folder if folder is not None else Path(os.environ["TEST_FOLDER"])
        salt = schema if schema is not None else os.environ["TEST_SCHEMA"]
        if make_source is None:
            source: EventSource = await context.enter(
                AzureTableStorageEventSource.from_connection_string(
                    os.environ["MESSAGEHANDLER_CONNECTION_STRING"],
                    os.environ["TEST_TABLE"],
                    registry=EventTypeRegistry([OrganizationRegistered, OrganizationRenamed]),
                )
            )
        else:
            source = make_source(context)
        model = DurableReadModel(
            Projector(source, SearchEntryProjection),
            SearchEntry,
            "Organization",
            FileCheckpointStore(where),
            salt=salt,
        )
        return LiveReadModel("organizations", model, SqliteIndexes(SearchEntry, where / "indexes"))

    return app


app = build_app(None)
