"""Errors of search indexes, rooted at `MessageHandlerError`."""

from __future__ import annotations

from messagehandler.errors import MessageHandlerError


class SearchIndexError(MessageHandlerError):
    """The index refused or failed an operation; the message names the index and the documents."""
