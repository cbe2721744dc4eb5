"""The Azure Table Storage event source (install the `azure-tables` extra)."""

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
