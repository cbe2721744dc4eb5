"""Errors specific to Table Storage: a missing table.

The limit errors (`TableLimitError` and its kinds) live in `messagehandler.eventsource.limit_errors`,
because the in-memory source enforces the same limits; this package re-exports them.
"""

from __future__ import annotations

from messagehandler.errors import ResourceNotFoundError


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
