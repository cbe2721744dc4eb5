"""The Azure Table Storage event source (install the `azure-tables` extra)."""

from messagehandler.eventsource.azure_tables.errors import (
    EntityTooLargeError,
    TableLimitError,
    TableNotFoundError,
    TooManyEntitiesError,
    TooManyPropertiesError,
    TransactionTooLargeError,
    VersionLimitError,
)
from messagehandler.eventsource.azure_tables.source import AzureTableStorageEventSource

__all__ = [
    "AzureTableStorageEventSource",
    "EntityTooLargeError",
    "TableLimitError",
    "TableNotFoundError",
    "TooManyEntitiesError",
    "TooManyPropertiesError",
    "TransactionTooLargeError",
    "VersionLimitError",
]
