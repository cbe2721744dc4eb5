"""Azure AI Search indexes per read model version, the real SDK against a local receiver of its requests:
a rebuild creates the new version's index from the schema, fills it, and deletes the one it replaced."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from azure.core.credentials import AzureKeyCredential
from azure.search.documents.indexes.models import SearchableField, SimpleField

from messagehandler import AggregateRepository, EventTypeRegistry, InMemoryEventSource
from messagehandler.projections import DurableReadModel, FileCheckpointStore, Projector
from messagehandler.projections.live import LiveReadModel, read_alias
from messagehandler.search import SearchIndexError
from messagehandler.search.azure_indexes import AzureSearchIndexes
from samples.organization.domain import Organization, OrganizationRegistered, OrganizationRenamed
from samples.organization.search import SearchEntry, SearchEntryProjection

KEY = "test-admin-key"
SCHEMA = [
    SimpleField(name="id", type="Edm.String", key=True),
    SearchableField(name="name"),
    SimpleField(name="country", type="Edm.String"),
    SearchableField(name="former_names", collection=True),
]
_INDEX = re.compile(r"^/indexes(?:\('(?P<quoted>[^']+)'\)|/(?P<plain>[^/]+))(?P<rest>/.*)?$")


@dataclass
class Service:
    url: str = ""
    indexes: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refuse: bool = False


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    state = Service()

    async def handle(request: web.Request) -> web.Response:
        if request.headers.get("api-key") != KEY:
            return web.json_response({"error": {"message": "no key"}}, status=403)
        match = _INDEX.match(request.path)
        if match is None:
            return web.json_response({"error": {"message": f"unexpected {request.path}"}}, status=400)
        name = match["quoted"] or match["plain"]
        body = json.loads(await request.read() or b"null")
        if match["rest"] is None and request.method == "PUT":
            if state.refuse:
                return web.json_response({"error": {"code": "InvalidField", "message": "bad schema"}}, status=400)
            state.indexes[name] = body
            return web.json_response(body, status=201)
        if match["rest"] is None and request.method == "DELETE":
            if state.indexes.pop(name, None) is None:
                return web.json_response({"error": {"code": "ResourceNotFound", "message": "no index"}}, status=404)
            return web.Response(status=204)
        if match["rest"] in ("/docs/search.index", "/docs/index"):
            for action in body["value"]:
                state.documents[f"{name}/{action['id']}"] = {k: v for k, v in action.items() if not k.startswith("@")}
            return web.json_response(
                {"value": [{"key": a["id"], "status": True, "statusCode": 200} for a in body["value"]]}
            )
        return web.json_response({"error": {"message": f"unexpected {request.method} {request.path}"}}, status=400)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield state
    await runner.cleanup()


async def test_a_new_schema_is_a_new_index_built_beside_and_the_old_one_deleted_after_the_switch(
    service: Service, tmp_path: Path
) -> None:
    source = InMemoryEventSource(EventTypeRegistry([OrganizationRegistered, OrganizationRenamed]))
    repository = AggregateRepository(source)
    (await repository.get(Organization, "acme")).register("Acme")
    await repository.flush()
    indexes = AzureSearchIndexes(SearchEntry, service.url, AzureKeyCredential(KEY), SCHEMA)

    async def deploy(schema: str) -> LiveReadModel[SearchEntry]:
        model = DurableReadModel(
            Projector(source, SearchEntryProjection),
            SearchEntry,
            "Organization",
            FileCheckpointStore(tmp_path),
            salt=schema,
        )
        live = LiveReadModel("organizations", model, indexes)
        await live.open()
        await live.save()
        await live.switch()
        await live.close()
        return live

    first = await deploy("schema 1")
    assert set(service.indexes) == {first.index_name}
    assert [f["name"] for f in service.indexes[first.index_name]["fields"]] == ["id", "name", "country", "former_names"]
    second = await deploy("schema 2")

    assert set(service.indexes) == {second.index_name}, "the replaced index is deleted"
    assert service.documents[f"{second.index_name}/acme"]["name"] == "Acme"
    assert (await read_alias(FileCheckpointStore(tmp_path), "organizations")).live == second.version
    await indexes.drop(first.index_name)  # already gone: nothing to do
    service.refuse = True
    with pytest.raises(SearchIndexError, match="bad schema") as refused:
        await indexes.open("organizations-next")
    assert KEY not in str(refused.value)
    await indexes.close()
