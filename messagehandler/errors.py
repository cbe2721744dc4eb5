"""One exception hierarchy, so callers can catch everything messagehandler raises with one clause.

Every message names what went wrong and where (event type, stream, version, table, channel), because
these errors are read in production logs long after the command that caused them. Every class says
what the caller can do about it in `remedy`, so a host can decide between retrying, reloading and
giving up without matching on messages. Failures of the Azure SDKs are mapped once, at the adapter
edge (`messagehandler.azure_errors`), and chained with their secrets redacted.

The tree of the I/O failures (the rest of the hierarchy is about bad input and bad definitions):

    MessageHandlerError
    ├── ConfigurationError                 fix the configuration
    │   ├── AccessDeniedError              credentials refused (401/403); also a ServiceError
    │   └── ResourceNotFoundError          table, queue, container... does not exist; also a ServiceError
    ├── LocalFileError                     a local file or directory cannot be read or written
    ├── ServiceError                       the service refused the request for another reason
    │   ├── ServiceUnavailableError        unreachable, timed out, throttled or 5xx: retry later
    │   │   └── NotCommittedError          an append that surely stored nothing: retry it as it is
    │   └── OutcomeUnknownError            an append that may or may not be stored: reload, then decide
    └── ConcurrencyError                   another writer appended first: reload and run the command again
"""

from __future__ import annotations

import enum
import errno
import os
from pathlib import Path


class Remedy(enum.Enum):
    """What a caller can do about an error; the value is the advice as a sentence."""

    FIX_INPUT = "change the input: retrying the same call fails the same way"
    FIX_CONFIGURATION = "fix the configuration (connection string, credentials, names, options)"
    FIX_CODE = "fix the code: a class or handler is declared in a way that cannot work"
    RETRY_LATER = "retry later: the service is unreachable or busy, and nothing is known to be half-done"
    RELOAD_AND_RETRY = "reload the aggregate and run the command again"
    INSPECT = "look at the named data: it cannot be read or used as it is"


class MessageHandlerError(Exception):
    """Root of every error raised by messagehandler."""

    remedy: Remedy = Remedy.FIX_INPUT

    @property
    def retryable(self) -> bool:
        """True when trying the same call again later may succeed."""
        return self.remedy in (Remedy.RETRY_LATER, Remedy.RELOAD_AND_RETRY)


class ConfigurationError(MessageHandlerError):
    """Malformed configuration: a bad connection string, an invalid option, a missing extra."""

    remedy = Remedy.FIX_CONFIGURATION


class MissingExtraError(ConfigurationError, ImportError):
    """A feature needs an optional dependency that is not installed; the message names the extra."""

    def __init__(self, feature: str, extra: str, missing: str | None = None) -> None:
        self.feature = feature
        self.extra = extra
        because = f" (module {missing!r} is not installed)" if missing else ""
        super().__init__(f'{feature} needs the {extra!r} extra{because}: pip install "messagehandler-azure[{extra}]"')
        self.name = missing  # as ImportError has it, so an enclosing feature can name its own extra


class ServiceError(MessageHandlerError):
    """A service (Table Storage, a queue, a broker, a search index) failed a request.

    `service` names what was called (for example `table 'Events'`), `status` and `code` are the HTTP
    status and service error code when there was a response. `reached_service` is False when the
    request surely never reached the service (a refused connection), so nothing it asked for happened.
    The message never holds a secret.
    """

    remedy = Remedy.INSPECT

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        status: int | None = None,
        code: str | None = None,
        reached_service: bool = True,
    ) -> None:
        self.service = service
        self.status = status
        self.code = code
        self.reached_service = reached_service
        super().__init__(message)


class ServiceUnavailableError(ServiceError):
    """The service could not be reached, timed out, throttled the request or failed on its side."""

    remedy = Remedy.RETRY_LATER


class NotCommittedError(ServiceUnavailableError):
    """An append failed and nothing of it was stored: the same flush can be retried as it is."""


class OutcomeUnknownError(ServiceError):
    """An append failed in a way that leaves unknown whether it was stored, and checking failed too.

    Reload the aggregate before deciding: the events may be there. Retrying the same flush is also
    safe, because appending events whose ids are already stored at their versions stores nothing twice.
    """

    remedy = Remedy.RELOAD_AND_RETRY


class AccessDeniedError(ConfigurationError, ServiceError):
    """The service refused the credentials or the identity lacks a permission (HTTP 401 or 403)."""

    remedy = Remedy.FIX_CONFIGURATION


class ResourceNotFoundError(ConfigurationError, ServiceError):
    """A table, queue, topic or container the configuration names does not exist."""

    remedy = Remedy.FIX_CONFIGURATION


_FIX_CONFIGURATION_ERRNOS = {
    errno.EACCES: "give the process permission to it",
    errno.EPERM: "give the process permission to it",
    errno.EROFS: "the file system is read-only: point the configuration at a writable one",
    errno.ENOSPC: "the volume is full: free space or point the configuration at another volume",
    errno.EDQUOT: "the disk quota is used up: free space or point the configuration at another volume",
    errno.ENOTDIR: "part of the path is a file where a directory is expected: fix the configured path",
    errno.EISDIR: "the path is a directory where a file is expected: fix the configured path",
    errno.EEXIST: "a file is in the way where a directory is expected: fix the configured path",
    errno.ENOENT: "a directory of the path does not exist: fix the configured path",
    errno.ENAMETOOLONG: "the path is too long: configure a shorter one",
    errno.ELOOP: "the path holds a symbolic link loop: fix the configured path",
}
_RETRY_LATER_ERRNOS = {
    errno.EAGAIN,
    errno.EBUSY,
    errno.EINTR,
    errno.EIO,
    errno.EMFILE,
    errno.ENFILE,
    errno.ENOMEM,
    errno.ETIMEDOUT,
    errno.ESTALE,
}


class LocalFileError(MessageHandlerError):
    """A local file or directory could not be read or written (the OS refused: permissions, disk full...).

    `path` is the file or directory the operation was about, `operation` what was attempted (`read`,
    `write`, `create directory`), `errno` the OS error number; the `OSError` is `__cause__`. The remedy
    follows the cause: a refused permission, a full disk or a path that is a file where a directory is
    expected need the configuration fixed; an I/O error, a busy file or too many open files may pass,
    so retry later; anything else, inspect. Each part raises its own subclass (`CheckpointFileError`,
    `CacheFileError`, `SearchIndexFileError`), so `except CacheError` still catches every cache failure.
    """

    remedy = Remedy.INSPECT

    def __init__(self, operation: str, path: str | os.PathLike[str], cause: OSError, *, subject: str = "") -> None:
        self.operation = operation
        self.path = Path(path)
        self.errno = cause.errno
        reason = cause.strerror or str(cause) or type(cause).__name__
        code = errno.errorcode.get(cause.errno, "") if cause.errno is not None else ""
        where = f" (at {cause.filename})" if cause.filename and Path(cause.filename) != self.path else ""
        advice = _FIX_CONFIGURATION_ERRNOS.get(cause.errno) if cause.errno is not None else None
        if advice is not None:
            self.remedy = Remedy.FIX_CONFIGURATION
        elif cause.errno in _RETRY_LATER_ERRNOS:
            self.remedy, advice = Remedy.RETRY_LATER, "this may pass: retry later"
        else:
            advice = "look at the file and the volume"
        subject = f"{subject}: " if subject else ""
        super().__init__(
            f"{subject}cannot {operation} {self.path}{where}: {reason}{f' ({code})' if code else ''}; {advice}"
        )


class EventDefinitionError(MessageHandlerError):
    """An event class cannot be used as declared (bad type name, bad schema version)."""

    remedy = Remedy.FIX_CODE


class DuplicateEventTypeError(EventDefinitionError):
    """Two different classes were registered under one event type name."""

    def __init__(self, type_name: str, existing: type, new: type) -> None:
        self.type_name = type_name
        super().__init__(
            f"event type name {type_name!r} is already registered to "
            f"{existing.__module__}.{existing.__qualname__}; cannot register "
            f"{new.__module__}.{new.__qualname__} under the same name"
        )


class AmbiguousEventTypeError(EventDefinitionError):
    """Two different classes are defined under one event type name, and no registry says which one is meant."""

    def __init__(self, type_name: str, classes: list[type]) -> None:
        self.type_name = type_name
        self.classes = classes
        names = ", ".join(f"{cls.__module__}.{cls.__qualname__}" for cls in classes)
        super().__init__(
            f"event type name {type_name!r} is defined by {len(classes)} classes ({names}): give each a distinct "
            f"type_name=, or register the one meant with registry.register(cls)"
        )


class UnknownEventTypeError(MessageHandlerError):
    """A stored event names a type no class is known for, so it cannot be deserialised.

    `registry` says where the reader looked: a closed registry lists only what was registered in it;
    an open one (the default) also knows every `Event` subclass the process has defined.
    """

    remedy = Remedy.FIX_CODE

    def __init__(
        self, type_name: str, stream: str | None = None, version: int | None = None, *, registry: str = ""
    ) -> None:
        self.type_name = type_name
        self.stream = stream
        self.version = version
        where = f" (stream {stream!r}, version {version})" if stream is not None else ""
        looked = f" in {registry}" if registry else " in the EventTypeRegistry"
        super().__init__(
            f"unknown event type {type_name!r}{where}: no class for it{looked}; import the module that defines "
            f"the class before reading, or add it with registry.register(cls)"
        )


class UpcastError(MessageHandlerError):
    """No upcaster path leads from a stored schema version to the current one, or an upcaster failed."""

    remedy = Remedy.FIX_CODE


class SerializationError(MessageHandlerError):
    """An event could not be turned into its stored form, or its stored form back into an event."""


class UnstorableEventError(SerializationError, ValueError):
    """An event holds a value that would not read back as it was written, so it is not stored.

    `field` is the path of the value (`lines[2].price`, or `metadata.who` for a metadata column),
    `problem` what is wrong with it. Nothing of the append was written.
    """

    def __init__(
        self, event_type: str, problem: str, *, field: str = "", stream: str | None = None, version: int | None = None
    ) -> None:
        self.event_type = event_type
        self.field = field
        self.problem = problem
        self.stream = stream
        self.version = version
        where = f" (stream {stream!r}, version {version})" if stream is not None else ""
        shown = field if len(field) <= 80 else f"{field[:60]}...{field[-12:]}"
        what = f"field {shown!r}" if field else "its payload"
        super().__init__(f"event of type {event_type!r}{where} cannot be stored: {what} {problem}; nothing was written")


class UnreadableEventError(SerializationError):
    """A stored row cannot be read as an event, so a bulk reader stops at it, or skips it by policy.

    Names the row as its store knows it: `source` (`table 'Events'`, `in-memory source`, `cache at
    ...`), `partition_key` and `row_key` (Table Storage's keys, or their equivalents), the stream and
    version when they could be read, and `reason`. The error that made it unreadable is `__cause__`.
    """

    remedy = Remedy.INSPECT

    def __init__(
        self,
        source: str,
        reason: str,
        *,
        partition_key: str | None = None,
        row_key: str | None = None,
        stream: str | None = None,
        version: int | None = None,
    ) -> None:
        self.source = source
        self.reason = reason
        self.partition_key = partition_key
        self.row_key = row_key
        self.stream = stream
        self.version = version
        row = f"row {partition_key!r}/{row_key!r}" if row_key is not None else "a row"
        of = f" (stream {stream!r}, version {version})" if stream is not None else ""
        super().__init__(f"{source}: {row}{of} cannot be read: {reason}")


class HandlerDefinitionError(MessageHandlerError):
    """An aggregate's apply handler is declared in a way that cannot be dispatched."""

    remedy = Remedy.FIX_CODE


class MissingHandlerError(MessageHandlerError):
    """An aggregate was asked to apply an event type it has no handler for."""

    remedy = Remedy.FIX_CODE

    def __init__(self, aggregate_type: type, event_type: str, stream: str, version: int) -> None:
        self.event_type = event_type
        self.stream = stream
        self.version = version
        super().__init__(
            f"{aggregate_type.__qualname__} has no apply handler for event type {event_type!r} "
            f"(stream {stream!r}, version {version})"
        )


class EventAlreadyEmittedError(MessageHandlerError):
    """The same event instance was emitted twice; events are immutable facts with one identity."""


class StreamIntegrityError(MessageHandlerError):
    """Events do not belong where they are being put: wrong stream, or versions out of order."""

    remedy = Remedy.INSPECT

    def __init__(self, message: str, stream: str, version: int | None = None) -> None:
        self.stream = stream
        self.version = version
        super().__init__(message)


class ConcurrencyError(MessageHandlerError):
    """Another writer appended to the stream first; re-load the aggregate and run the command again."""

    remedy = Remedy.RELOAD_AND_RETRY

    def __init__(self, stream_type: str, stream_id: str, expected_version: int, actual_version: int | None) -> None:
        self.stream_type = stream_type
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        actual = "unknown" if actual_version is None else str(actual_version)
        super().__init__(
            f"concurrency conflict on stream {stream_type}/{stream_id}: "
            f"expected version {expected_version}, actual version {actual}"
        )
