"""Search indexes for read models: the `SearchIndex` protocol, an embedded SQLite FTS5 index (the
default, no server) and, with the `search` extra, Azure AI Search (`messagehandler.search.azure_search`).
"""

from messagehandler.search.errors import (
    SearchIndexAccessDeniedError,
    SearchIndexError,
    SearchIndexFileError,
    SearchIndexNotFoundError,
    SearchIndexServiceError,
    SearchIndexUnavailableError,
)
from messagehandler.search.protocol import SearchIndex, SearchResult
from messagehandler.search.sqlite import SqliteSearchIndex

__all__ = [
    "SearchIndex",
    "SearchIndexAccessDeniedError",
    "SearchIndexError",
    "SearchIndexFileError",
    "SearchIndexNotFoundError",
    "SearchIndexServiceError",
    "SearchIndexUnavailableError",
    "SearchResult",
    "SqliteSearchIndex",
]
