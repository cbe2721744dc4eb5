"""Errors specific to Table Storage: service limits checked before sending, and a missing table.

Limit errors are raised before anything is written, so the caller knows the stream is untouched
and can change the command (fewer events, smaller payloads) instead of retrying blindly.
"""

from __future__ import annotations

from messagehandler.errors import MessageHandlerError, ResourceNotFoundError


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


class VersionLimitError(TableLimitError):
    """A version beyond what the Int32 `Version` column holds."""

    limit = "largest storable version"
    unit = "(version)"


class TableNotFoundError(ResourceNotFoundError):
    """The table does not exist and the source was told not to create it."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        super().__init__(
            f"table {table_name!r} does not exist; create it or pass create_table=True",
            service=f"table {table_name!r}",
            status=404,
            code="TableNotFound",
        )
