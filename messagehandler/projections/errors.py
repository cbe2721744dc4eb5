"""Errors of projections and durable read models, rooted at `MessageHandlerError`."""

from __future__ import annotations

from messagehandler.errors import LocalFileError, MessageHandlerError, Remedy


class ProjectionError(MessageHandlerError):
    """A projection cannot build its records as asked."""


class NoProjectionError(ProjectionError):
    """The projector was asked for a record type that none of its projections builds."""

    def __init__(self, record_type: type, known: list[type]) -> None:
        self.record_type = record_type
        names = ", ".join(sorted(t.__qualname__ for t in known)) or "none"
        super().__init__(f"no projection builds {record_type.__qualname__} (record types projected: {names})")


class RecordFactoryError(ProjectionError):
    """A record could not be created for a stream, typically a record type without a no-argument constructor."""


class CheckpointError(ProjectionError):
    """A checkpoint could not be read or written."""


class AliasContentionError(CheckpointError):
    """The alias of a read model kept changing under a compare-and-swap; nothing was written, try again."""

    remedy = Remedy.RETRY_LATER


class RetiredVersionError(ProjectionError):
    """A version of a read model was asked to go live after a newer one replaced it; the alias is unchanged."""


class CheckpointFileError(CheckpointError, LocalFileError):
    """A checkpoint file or its directory could not be read or written; names the path and the operation."""


class CorruptCheckpointError(CheckpointError):
    """A stored checkpoint is unreadable: truncated, tampered with, or not a checkpoint at all."""


class NonDeterministicProjectionError(ProjectionError):
    """Restoring the same events twice gave different records; see `messagehandler.projections.replay`."""
