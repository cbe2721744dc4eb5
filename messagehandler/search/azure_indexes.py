"""Azure AI Search indexes per read model version, for rebuilds beside the live index (extra `search`).

`AzureSearchIndexes` creates the index of a version from the schema you give (its fields, and any
other `SearchIndex` settings: analyzers, scoring profiles), so a new schema is a new index built
beside the one readers use; `LiveReadModel` switches its alias, then the old index is deleted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from messagehandler.azure_errors import azure_errors
from messagehandler.extras import requires_extra
from messagehandler.redaction import credential_secrets
from messagehandler.search.azure_search import AzureSearchIndex
from messagehandler.search.errors import SEARCH_ERRORS

with requires_extra("search", "Azure AI Search indexes per version", ("azure.search.documents",)):
    from azure.core.credentials import AzureKeyCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.core.exceptions import ResourceNotFoundError
    from azure.search.documents.indexes.aio import SearchIndexClient
    from azure.search.documents.indexes.models import SearchField, SearchIndex

R = TypeVar("R")


class AzureSearchIndexes(Generic[R]):
    """Implements `IndexProvider` on one Azure AI Search service; `fields` is the index schema."""

    def __init__(
        self,
        record_type: type[R],
        endpoint: str,
        credential: AzureKeyCredential | AsyncTokenCredential,
        fields: Sequence[SearchField],
        *,
        key_field: str = "id",
        index_options: dict[str, Any] | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.record_type = record_type
        self.endpoint = endpoint
        self.fields = list(fields)
        self.key_field = key_field
        self.index_options = dict(index_options or {})
        self._credential = credential
        self._client_kwargs = client_kwargs
        self.client = SearchIndexClient(endpoint, credential, **client_kwargs)

    def _errors(self, name: str, action: str) -> contextlib.AbstractContextManager[None]:
        secrets = credential_secrets(self._credential)
        return azure_errors(f"index {name!r}", action=action, secrets=secrets, classes=SEARCH_ERRORS)

    async def open(self, name: str) -> AzureSearchIndex[R]:
        """The index `name`, created with the schema when missing (an existing one is updated to it).

        Raises:
            SearchIndexUnavailableError: the service could not be reached (retry later).
            SearchIndexError: the service refused the schema.
        """
        with self._errors(name, "create the index"):
            await self.client.create_or_update_index(SearchIndex(name=name, fields=self.fields, **self.index_options))
        return AzureSearchIndex(
            self.record_type, self.endpoint, name, self._credential, key_field=self.key_field, **self._client_kwargs
        )

    async def drop(self, name: str) -> None:
        """Delete the index `name`; one that is already gone counts as dropped."""
        with self._errors(name, "delete the index"), contextlib.suppress(ResourceNotFoundError):
            await self.client.delete_index(name)

    async def close(self) -> None:
        await self.client.close()
