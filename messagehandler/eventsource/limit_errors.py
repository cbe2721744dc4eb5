"""Table Storage's limits, as errors every event source raises before anything is written.

The limits are Table Storage's (the strictest store), checked by the in-memory source too, so an
append that works in tests does not fail in production. The caller knows the stream is untouched and
can change the command (fewer events, smaller payloads) instead of retrying blindly.
"""

from __future__ import annotations

from messagehandler.errors import MessageHandlerError


class TableLimitError(MessageHandlerError):
    """An append would exceed a Table Storage limit; nothing was written.

    `limit` names the limit, `actual` and `maximum` are in its unit (entities, bytes, properties).
    """

    limit = "table storage limit"
    unit = ""

    def __init__(self, stream: str, actual: int, maximum: int, *, version: int | None = None) -> None:
        self.stream = stream
        self.actual = actual
        self.maximum = maximum
        self.version = version
        where = f"stream {stream!r}" if version is None else f"stream {stream!r}, version {version}"
        super().__init__(
            f"append to {where} exceeds the {self.limit}: {actual:,} {self.unit}, at most {maximum:,} allowed; "
            "nothing was written"
        )


class TooManyEntitiesError(TableLimitError):
    """More events in one append than one entity group transaction holds."""

    limit = "limit of entities per transaction"
    unit = "entities"


class TransactionTooLargeError(TableLimitError):
    """The events of one append would make a transaction payload of 4 MiB or more."""

    limit = "transaction payload limit"
    unit = "bytes (estimated)"


class EntityTooLargeError(TableLimitError):
    """One event's row would be larger than the 1 MiB an entity may hold."""

    limit = "entity size limit"
    unit = "bytes"


class TooManyPropertiesError(TableLimitError):
    """One event's row would need more custom properties than an entity may have."""

    limit = "limit of custom properties per entity"
    unit = "properties"


class PropertyTooLargeError(TableLimitError):
    """A metadata column (who, correlation id, ...) is longer than a string property may be.

    `column` names it; strings are counted in UTF-16 code units, as Table Storage counts them.
    """

    limit = "string property limit"
    unit = "UTF-16 units"

    def __init__(self, stream: str, actual: int, maximum: int, *, version: int | None = None, column: str) -> None:
        self.column = column
        self.limit = f"string property limit of column {column!r}"
        super().__init__(stream, actual, maximum, version=version)


class VersionLimitError(TableLimitError):
    """A version beyond what the Int32 `Version` column holds."""

    limit = "largest storable version"
    unit = "(version)"
