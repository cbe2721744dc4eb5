"""The web samples through httpx's in-process transports: ASGI for FastAPI, WSGI for Flask.

They run on the testing kit's `azurite_table`, a table of each test's own on the session's Azurite.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.testing import given
from messagehandler.testing.plugin import AzuriteTable
from samples.organization import Organization, OrganizationRegistered, OrganizationRenamed
from samples.webapp import app as fastapi_sample
from samples.webapp import flask_app as flask_sample

pytestmark = pytest.mark.azurite


def source_on(table: AzuriteTable) -> AzureTableStorageEventSource:
    return AzureTableStorageEventSource.from_connection_string(table.connection_string, table.name)


def test_the_rename_command_the_endpoints_run() -> None:
    given(Organization, OrganizationRegistered(name="Acme")).when(lambda org: org.rename("Acme NV")).then(
        OrganizationRenamed(name="Acme NV")
    )


@pytest.fixture
async def api(azurite_table: AzuriteTable) -> AsyncIterator[httpx.AsyncClient]:
    app = fastapi_sample.create_app(lambda: source_on(azurite_table))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sample") as client,
    ):
        yield client


async def test_fastapi_registers_renames_and_searches(api: httpx.AsyncClient) -> None:
    created = await api.post("/organizations/acme", json={"name": "Acme", "country": "BE"})
    renamed = await api.post("/organizations/acme/rename", json={"name": "Acme Worldwide"})
    found = await api.get("/search", params={"q": "worldwide"})

    assert created.status_code == 201
    assert renamed.json() == {"id": "acme", "name": "Acme Worldwide", "version": 2}
    assert [(e["id"], e["name"], e["former_names"]) for e in found.json()] == [("acme", "Acme Worldwide", ["Acme"])]


async def test_fastapi_retries_concurrent_renames_instead_of_failing(api: httpx.AsyncClient) -> None:
    await api.post("/organizations/acme", json={"name": "Acme"})

    answers = await asyncio.gather(
        *(api.post("/organizations/acme/rename", json={"name": f"Acme {n}"}) for n in range(6))
    )

    assert [a.status_code for a in answers] == [200] * 6
    assert sorted(a.json()["version"] for a in answers) == list(range(2, 8))
    assert (await api.get("/organizations/acme")).json()["version"] == 7


async def test_fastapi_answers_conflicts_and_unknowns_with_http_errors(api: httpx.AsyncClient) -> None:
    await api.post("/organizations/acme", json={"name": "Acme"})

    assert (await api.post("/organizations/acme", json={"name": "Again"})).status_code == 409
    assert (await api.post("/organizations/nobody/rename", json={"name": "x"})).status_code == 404
    assert (await api.get("/organizations/nobody")).status_code == 404


@pytest.fixture
def web(azurite_table: AzuriteTable) -> Iterator[httpx.Client]:
    app = flask_sample.create_app(lambda: source_on(azurite_table))
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://sample") as client:
        yield client
    app.extensions["messagehandler"].close()


def test_flask_serves_request_after_request_from_one_source(web: httpx.Client) -> None:
    assert web.post("/organizations/acme", json={"name": "Acme"}).status_code == 201
    for n in range(3):
        assert web.post("/organizations/acme/rename", json={"name": f"Acme {n}"}).status_code == 200

    assert web.get("/organizations/acme").json() == {"id": "acme", "name": "Acme 2", "version": 4}
    assert [e["name"] for e in web.get("/search", params={"q": "acme"}).json()] == ["Acme 2"]
    assert web.post("/organizations/acme", json={"name": "Again"}).status_code == 409
    assert web.get("/organizations/nobody").status_code == 404
    assert web.post("/organizations/nobody/rename", json={"name": "x"}).status_code == 404


def test_flask_threads_share_the_store_and_retry_conflicts(web: httpx.Client) -> None:
    from concurrent.futures import ThreadPoolExecutor

    web.post("/organizations/acme", json={"name": "Acme"})

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda n: web.post("/organizations/acme/rename", json={"name": f"A{n}"}), range(6)))

    assert [a.status_code for a in answers] == [200] * 6
    assert web.get("/organizations/acme").json()["version"] == 7
