"""The Azure Table Storage event source (install the `azure-tables` extra)."""

from messagehandler.extras import requires_extra

with requires_extra("azure-tables", "the Azure Table Storage event source", ("azure", "aiohttp")):
    import aiohttp  # noqa: F401 - the SDK's async transport, needed at the first request

    from messagehandler.eventsource.azure_tables.errors import TableNotFoundError
    from messagehandler.eventsource.azure_tables.source import AzureTableStorageEventSource
    from messagehandler.eventsource.limit_errors import (
        EntityTooLargeError,
        PropertyTooLargeError,
        TableLimitError,
        TooManyEntitiesError,
        TooManyPropertiesError,
        TransactionTooLargeError,
        VersionLimitError,
    )

__all__ = [
    "AzureTableStorageEventSource",
    "EntityTooLargeError",
    "PropertyTooLargeError",
    "TableLimitError",
    "TableNotFoundError",
    "TooManyEntitiesError",
    "TooManyPropertiesError",
    "TransactionTooLargeError",
    "VersionLimitError",
]
