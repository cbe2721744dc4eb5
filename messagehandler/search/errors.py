"""Errors of search indexes, rooted at `MessageHandlerError`.

A failure of the service behind an index is a `SearchIndexError` and also the service error it is:
an unreachable or busy index raises `SearchIndexUnavailableError` (a `ServiceUnavailableError`: retry
later), a refused key `SearchIndexAccessDeniedError` (an `AccessDeniedError`), a missing index
`SearchIndexNotFoundError` (a `ResourceNotFoundError`). The mapping is `messagehandler.azure_errors`
with `SEARCH_ERRORS`.
"""

from __future__ import annotations

from collections.abc import Mapping

from messagehandler.errors import (
    AccessDeniedError,
    LocalFileError,
    MessageHandlerError,
    Remedy,
    ResourceNotFoundError,
    ServiceError,
    ServiceUnavailableError,
)


class SearchIndexError(MessageHandlerError):
    """The index refused or failed an operation; the message names the index and the documents."""


class SearchIndexFileError(SearchIndexError, LocalFileError):
    """The directory or a file of a local (SQLite) index could not be created, read or removed."""


class SearchIndexServiceError(SearchIndexError, ServiceError):
    """The search service refused the request for a reason that is neither access nor availability."""

    remedy = Remedy.INSPECT


class SearchIndexUnavailableError(SearchIndexError, ServiceUnavailableError):
    """The index could not be reached, timed out, was busy (a locked SQLite file) or failed: retry later."""

    remedy = Remedy.RETRY_LATER


class SearchIndexAccessDeniedError(SearchIndexError, AccessDeniedError):
    """The search service refused the key or identity."""

    remedy = Remedy.FIX_CONFIGURATION


class SearchIndexNotFoundError(SearchIndexError, ResourceNotFoundError):
    """The index does not exist; creating it is left to infrastructure code."""

    remedy = Remedy.FIX_CONFIGURATION


SEARCH_ERRORS: Mapping[type[ServiceError], type[ServiceError]] = {
    ServiceError: SearchIndexServiceError,
    ServiceUnavailableError: SearchIndexUnavailableError,
    AccessDeniedError: SearchIndexAccessDeniedError,
    ResourceNotFoundError: SearchIndexNotFoundError,
}
"""The search flavour of each service error, for `azure_errors(..., classes=SEARCH_ERRORS)`."""
