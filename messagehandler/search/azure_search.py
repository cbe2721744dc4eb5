"""Azure AI Search as a `SearchIndex`, on the azure-search-documents async client (extra `search`).

The index must exist with a key field (default `id`) and the record's fields; creating it is left to
infrastructure code, because its analyzers and scoring are a deployment decision. Queries use
`search_mode="all"` so that, as with the SQLite index, every word must match; each word is sent as
a prefix query (`word*`) with the simple syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from messagehandler.azure_errors import azure_errors
from messagehandler.extras import requires_extra
from messagehandler.projections.records import codec_for
from messagehandler.redaction import credential_secrets
from messagehandler.search.errors import SEARCH_ERRORS, SearchIndexError
from messagehandler.search.protocol import SearchResult

with requires_extra("search", "the Azure AI Search index", ("azure.search.documents",)):
    from azure.core.credentials import AzureKeyCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.core.exceptions import ResourceNotFoundError
    from azure.search.documents.aio import SearchClient

R = TypeVar("R")

BATCH = 1000
"""Documents per indexing request: the service accepts at most 1,000 actions per batch."""
_KEY = re.compile(r"^[A-Za-z0-9_\-=]{1,1024}$")
_WORD = re.compile(r"\w+")


class AzureSearchIndex(Generic[R]):
    """Implements `SearchIndex` on one Azure AI Search index.

    Document keys may hold only letters, digits, `_`, `-` and `=`: stream ids with other characters
    are refused with SearchIndexError rather than silently rewritten.
    """

    def __init__(
        self,
        record_type: type[R],
        endpoint: str,
        index_name: str,
        credential: AzureKeyCredential | AsyncTokenCredential,
        *,
        key_field: str = "id",
        **client_kwargs: Any,
    ) -> None:
        self.record_type = record_type
        self.key_field = key_field
        self.index_name = index_name
        self._credential = credential
        self.client = SearchClient(endpoint, index_name, credential, **client_kwargs)
        self._codec = codec_for(record_type)

    @classmethod
    def with_key(cls, record_type: type[R], endpoint: str, index_name: str, key: str, **kw: Any) -> AzureSearchIndex[R]:
        return cls(record_type, endpoint, index_name, AzureKeyCredential(key), **kw)

    def _document(self, stream_id: str, record: R) -> dict[str, Any]:
        if not _KEY.match(stream_id):
            raise SearchIndexError(
                f"stream id {stream_id!r} cannot be an Azure AI Search key: use letters, digits, '_', '-' or '='"
            )
        document = dict(self._codec.dump(record))
        document[self.key_field] = stream_id
        return document

    async def upsert(self, records: Mapping[str, R]) -> None:
        documents = [self._document(stream_id, record) for stream_id, record in records.items()]
        for start in range(0, len(documents), BATCH):
            await self._index(documents[start : start + BATCH], "merge_or_upload")

    async def delete(self, ids: Iterable[str]) -> None:
        keys = [{self.key_field: stream_id} for stream_id in ids]
        for start in range(0, len(keys), BATCH):
            await self._index(keys[start : start + BATCH], "delete")

    def _errors(self, action: str) -> AbstractContextManager[None]:
        """Maps what the SDK raises to search index errors naming the index, with the key masked."""
        secrets = credential_secrets(self._credential)
        return azure_errors(f"index {self.index_name!r}", action=action, secrets=secrets, classes=SEARCH_ERRORS)

    async def _index(self, documents: list[dict[str, Any]], action: str) -> None:
        with self._errors(action):
            if action == "delete":
                results = await self.client.delete_documents(documents)
            else:
                results = await self.client.merge_or_upload_documents(documents)
        failed = [r for r in results if not r.succeeded and not (action == "delete" and r.status_code == 404)]
        if failed:
            shown = ", ".join(f"{r.key} ({r.status_code}: {r.error_message})" for r in failed[:5])
            raise SearchIndexError(f"index {self.index_name!r}: {len(failed)} documents not stored: {shown}")

    async def search(self, text: str, *, top: int = 10) -> list[SearchResult[R]]:
        words = _WORD.findall(text)
        query = " ".join(f"{word}*" for word in words) if words else ("*" if text.strip() == "*" else None)
        if query is None:
            return []
        with self._errors("search"):
            pages = await self.client.search(search_text=query, search_mode="all", top=top)
            return [
                SearchResult(str(d[self.key_field]), float(d["@search.score"]), self._record(d)) async for d in pages
            ]

    async def get(self, id: str) -> R | None:
        with self._errors(f"get {id!r}"):
            try:
                document = await self.client.get_document(id)
            except ResourceNotFoundError:
                return None
        return self._record(dict(document))

    def _record(self, document: Mapping[str, Any]) -> R:
        return self._codec.load({k: v for k, v in document.items() if not k.startswith("@search.")})

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> AzureSearchIndex[R]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
