"""Where the store is, from options or environment variables, and keeping its secrets out of all output.

Connection strings carry account keys and SAS tokens. They are read, used and never echoed: every
line the CLI prints goes through `Redactor`, which masks the whole string and each secret in it, so
even an SDK error that quotes a URL with a signature cannot leak it.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from messagehandler.errors import ConfigurationError

if TYPE_CHECKING:
    from messagehandler.events.registry import EventTypeRegistry
    from messagehandler.eventsource.protocol import EventSource
    from messagehandler.personal import Keyring

CONNECTION_STRING_ENV = "MESSAGEHANDLER_CONNECTION_STRING"
FALLBACK_CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
"""The Azure SDKs' usual variable, read when $MESSAGEHANDLER_CONNECTION_STRING is not set."""
TABLE_ENV = "MESSAGEHANDLER_TABLE"
SHARDS_ENV = "MESSAGEHANDLER_SHARDS"
MASK = "***"

_SECRET_PARTS = re.compile(r"(?i)(AccountKey|SharedAccessSignature|SharedAccessKey|sig)=([^;&\s\"']+)")


class Redactor:
    """Masks known secrets in text; collects them as settings are read."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, value: str | None) -> None:
        if not value:
            return
        self._secrets.add(value)
        for _, secret in _SECRET_PARTS.findall(value):
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return _SECRET_PARTS.sub(lambda m: f"{m.group(1)}={MASK}", text)


def add_store_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("event store (Azure Table Storage)")
    group.add_argument(
        "--connection-string",
        help=f"storage account connection string (default: ${CONNECTION_STRING_ENV}, else "
        f"${FALLBACK_CONNECTION_STRING_ENV}); prefer the variable, "
        "since options are visible in the process list",
    )
    group.add_argument("--table", help=f"table holding the events (default: ${TABLE_ENV})")
    group.add_argument(
        "--shards", type=int, help=f"partitions per stream type, as the writers use (default: ${SHARDS_ENV} or 1)"
    )


@dataclass(frozen=True)
class StoreSettings:
    connection_string: str
    table: str
    shards: int

    def __repr__(self) -> str:
        return f"StoreSettings(table={self.table!r}, shards={self.shards})"


def store_settings(args: argparse.Namespace, redact: Redactor) -> StoreSettings:
    connection_string = (
        args.connection_string
        or os.environ.get(CONNECTION_STRING_ENV)
        or os.environ.get(FALLBACK_CONNECTION_STRING_ENV)
    )
    redact.add(connection_string)
    if not connection_string:
        raise ConfigurationError(
            f"no connection string: pass --connection-string or set ${CONNECTION_STRING_ENV} (or read a cache with --cache)"
        )
    table = args.table or os.environ.get(TABLE_ENV)
    if not table:
        raise ConfigurationError(f"no table: pass --table or set ${TABLE_ENV}")
    shards_text = args.shards if args.shards is not None else os.environ.get(SHARDS_ENV, "1")
    try:
        shards = int(shards_text)
    except ValueError:
        raise ConfigurationError(f"${SHARDS_ENV} must be an integer, got {shards_text!r}") from None
    return StoreSettings(connection_string, table, shards)


def open_store(
    settings: StoreSettings, registry: EventTypeRegistry | None = None, *, keyring: Keyring | None = None
) -> EventSource:
    """The table as an event source that passes bodies through, except for the types in `registry`.

    Without a registry every body passes through as stored, whatever classes the process defines.
    With a keyring, sealed personal data is opened first (see `messagehandler.cli.keys`).
    """
    from messagehandler.cache.passthrough import PassThroughSerializer
    from messagehandler.events.registry import EventTypeRegistry
    from messagehandler.events.serialization import EventSerializer
    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource  # MissingExtraError names it

    serializer: EventSerializer = PassThroughSerializer(
        registry if registry is not None else EventTypeRegistry(closed=True)
    )
    if keyring is not None:
        from messagehandler.personal import PersonalDataSerializer

        serializer = PersonalDataSerializer(keyring, serializer)
    return AzureTableStorageEventSource.from_connection_string(
        settings.connection_string,
        settings.table,
        serializer=serializer,
        shards=settings.shards,
        create_table=False,
        retry_total=3,
        connection_timeout=10,
    )
