"""The Azure AI Search adapter, driving the real SDK against a local receiver that checks its requests.

The SDK accepts an http:// endpoint with an `AzureKeyCredential` (the https check in azure-core
applies to bearer tokens only), so the receiver is a plain aiohttp server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from messagehandler.search import SearchIndexError
from messagehandler.search.azure_search import AzureSearchIndex
from samples.organization.search import SearchEntry

KEY = "test-admin-key"


@dataclass
class Receiver:
    url: str
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_keys: set[str] = field(default_factory=set)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver("")

    async def handle(request: web.Request) -> web.Response:
        body = json.loads(await request.read() or b"null")
        path = request.path
        state.requests.append((request.method, path, dict(request.headers), body))
        if request.headers.get("api-key") != KEY:
            return web.json_response({"error": {"message": "no key"}}, status=403)
        if path in ("/indexes('orgs')/docs/search.index", "/indexes/orgs/docs/index"):
            results = []
            for action in body["value"]:
                key = action["id"]
                ok = key not in state.fail_keys
                if ok and action["@search.action"] == "delete":
                    state.documents.pop(key, None)
                elif ok:
                    state.documents[key] = {k: v for k, v in action.items() if k != "@search.action"}
                results.append(
                    {"key": key, "status": ok, "errorMessage": None if ok else "boom", "statusCode": 200 if ok else 400}
                )
            return web.json_response({"value": results}, status=200 if all(r["status"] for r in results) else 207)
        if path in ("/indexes('orgs')/docs/search.post.search", "/indexes/orgs/docs/search"):
            hits = [{"@search.score": 2.0 - i, **doc} for i, doc in enumerate(state.documents.values())]
            return web.json_response({"value": hits[: body.get("top", 50)]})
        if path.startswith(("/indexes('orgs')/docs('", "/indexes/orgs/docs/")):
            key = path.split("'")[3] if "('" in path.split("docs")[1] else path.rsplit("/", 1)[1]
            if key in state.documents:
                return web.json_response(state.documents[key])
            return web.json_response({"error": {"code": "", "message": "not found"}}, status=404)
        return web.json_response({"error": {"message": f"unexpected {path}"}}, status=400)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


async def test_upsert_sends_merge_or_upload_actions_with_the_api_key(receiver: Receiver) -> None:
    async with AzureSearchIndex.with_key(SearchEntry, receiver.url, "orgs", KEY) as index:
        await index.upsert({"acme": SearchEntry(id="acme", name="Acme", former_names=["A"])})

    method, path, headers, body = receiver.requests[-1]
    assert method == "POST"
    assert path in ("/indexes('orgs')/docs/search.index", "/indexes/orgs/docs/index")
    assert headers["api-key"] == KEY
    assert body == {
        "value": [
            {"@search.action": "mergeOrUpload", "id": "acme", "name": "Acme", "country": None, "former_names": ["A"]}
        ]
    }


async def test_search_get_and_delete_round_trip(receiver: Receiver) -> None:
    async with AzureSearchIndex.with_key(SearchEntry, receiver.url, "orgs", KEY) as index:
        await index.upsert(
            {"acme": SearchEntry(id="acme", name="Acme"), "globex": SearchEntry(id="globex", name="Globex")}
        )
        hits = await index.search("acm corp")
        assert [(h.id, h.score, h.record.name) for h in hits] == [("acme", 2.0, "Acme"), ("globex", 1.0, "Globex")]
        assert await index.get("globex") == SearchEntry(id="globex", name="Globex")
        await index.delete(["globex"])
        assert await index.get("globex") is None

    search_body = next(b for m, p, _, b in receiver.requests if "search" in p and p.endswith("search"))
    assert search_body["search"] == "acm* corp*"
    assert search_body["searchMode"] == "all"
    assert search_body["top"] == 10
    delete_body = receiver.requests[-2][3]
    assert delete_body == {"value": [{"@search.action": "delete", "id": "globex"}]}


async def test_documents_the_service_refuses_raise_a_typed_error(receiver: Receiver) -> None:
    receiver.fail_keys.add("bad")
    async with AzureSearchIndex.with_key(SearchEntry, receiver.url, "orgs", KEY) as index:
        with pytest.raises(SearchIndexError, match=r"1 documents not stored: bad \(400: boom\)"):
            await index.upsert({"good": SearchEntry(name="g"), "bad": SearchEntry(name="b")})
        with pytest.raises(SearchIndexError, match="cannot be an Azure AI Search key"):
            await index.upsert({"a/b": SearchEntry()})
    async with AzureSearchIndex.with_key(SearchEntry, receiver.url, "orgs", "wrong") as index:
        with pytest.raises(SearchIndexError, match="search on index"):
            await index.search("acme")


@pytest.mark.live
@pytest.mark.skipif(
    not (os.environ.get("AZURE_SEARCH_ENDPOINT") and os.environ.get("AZURE_SEARCH_KEY")),
    reason="set AZURE_SEARCH_ENDPOINT, AZURE_SEARCH_KEY (and AZURE_SEARCH_INDEX, default 'organizations')",
)
async def test_live_round_trip() -> None:
    """Needs an index with fields id (key), name, country, former_names (Collection(Edm.String))."""
    index_name = os.environ.get("AZURE_SEARCH_INDEX", "organizations")
    async with AzureSearchIndex.with_key(
        SearchEntry, os.environ["AZURE_SEARCH_ENDPOINT"], index_name, os.environ["AZURE_SEARCH_KEY"]
    ) as index:
        entry = SearchEntry(id="mh-live-test", name="Messagehandler Live Test", country="BE")
        await index.upsert({entry.id: entry})
        try:
            assert await index.get(entry.id) == entry
        finally:
            await index.delete([entry.id])


async def test_service_failures_are_typed_by_what_the_caller_can_do(receiver: Receiver) -> None:
    from messagehandler.errors import AccessDeniedError, ServiceUnavailableError
    from messagehandler.search import SearchIndexAccessDeniedError, SearchIndexUnavailableError

    secret = "a-wrong-key-that-must-not-leak"
    async with AzureSearchIndex.with_key(SearchEntry, receiver.url, "orgs", secret) as index:
        with pytest.raises(SearchIndexAccessDeniedError) as denied:
            await index.upsert({"a": SearchEntry(name="a")})
    async with AzureSearchIndex.with_key(SearchEntry, "http://127.0.0.1:9", "orgs", KEY, retry_total=0) as index:
        with pytest.raises(SearchIndexUnavailableError) as unavailable:
            await index.get("a")

    assert isinstance(denied.value, AccessDeniedError)
    assert isinstance(unavailable.value, ServiceUnavailableError)
    assert unavailable.value.retryable
    assert secret not in "".join(traceback.format_exception(denied.value))
