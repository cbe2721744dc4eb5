"""Errors of the processing host and its standing queries."""

from __future__ import annotations

from messagehandler.errors import MessageHandlerError, Remedy


class ProcessingError(MessageHandlerError):
    """A standing query or the host was used in a way that would lose track of a message."""


class CorruptPositionError(ProcessingError):
    """A saved position cannot be read: not JSON, nested too deep, or not a position at all.

    Nothing is guessed: a feed that started over from the beginning would process everything again,
    and one that skipped ahead would lose events. Restore the document, or delete it to start over.
    """

    remedy = Remedy.INSPECT

    def __init__(self, document: str, where: str, problem: str) -> None:
        self.document = document
        self.where = where
        self.problem = problem
        super().__init__(
            f"position document {document!r} in {where} is corrupt: {problem}; restore it, or delete it to "
            "process the feed again from the beginning"
        )
