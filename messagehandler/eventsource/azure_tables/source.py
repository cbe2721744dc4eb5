"""`AzureTableStorageEventSource`: event streams in Azure Table Storage, in the seed's row layout.

One append is one entity group transaction, so a flush is stored whole or not at all. Optimistic
concurrency comes from the service itself: the row for a version can be created once, and a second
writer of that version gets `EntityAlreadyExists`. A flush whose outcome is unknown (a timeout after
the service committed) is settled by reading back the event ids, never by writing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from messagehandler.azure_errors import RedactedCauseError, azure_errors, map_azure_error
from messagehandler.azure_errors import error_code as error_code_of
from messagehandler.errors import (
    ConcurrencyError,
    ConfigurationError,
    NotCommittedError,
    OutcomeUnknownError,
    ServiceUnavailableError,
)
from messagehandler.events.event import Event
from messagehandler.events.preparing import prepare_to_write, read_preparer
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.events.serialization import EventSerializer, JsonEventSerializer
from messagehandler.eventsource.appends import check_append
from messagehandler.eventsource.azure_tables.conflicts import Failed, classify
from messagehandler.eventsource.azure_tables.errors import TableNotFoundError
from messagehandler.eventsource.azure_tables.json_rows import KEY_RANGE, JsonRows, stored_at, typed
from messagehandler.eventsource.azure_tables.lifecycle import TableStreamLifecycle
from messagehandler.eventsource.azure_tables.merge import merge
from messagehandler.eventsource.azure_tables.outbox import TableOutbox
from messagehandler.eventsource.azure_tables.sharding import check_shards, partition_key, partition_keys
from messagehandler.eventsource.bad_rows import SkipBadRows, is_unreadable, settle, unreadable
from messagehandler.eventsource.keys import RESERVED_PREFIX, validate_stream
from messagehandler.eventsource.lifecycle import LifecycleRecord, StreamState, archived_error
from messagehandler.eventsource.lifecycle_rows import RECORD_COLUMNS, is_lifecycle_row, record_from_row
from messagehandler.eventsource.limits import DEFAULT_LIMITS, MAX_VERSION, check_rows, snapshot_fits, surely_within
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.eventsource.outbox_rows import (
    FROM_VERSION,
    KIND,
    outbox_entity,
)
from messagehandler.eventsource.protocol import EventStream
from messagehandler.eventsource.rows import (
    BODY_CHUNK_CHARS,
    EVENT_ID,
    SOURCE_ID,
    VERSION,
    from_entity,
    row_key,
    stream_end,
    stream_of,
    text_of,
    to_entity,
    version_in,
)
from messagehandler.eventsource.snapshot_rows import snapshot_entity, snapshot_from_row, snapshot_row_key
from messagehandler.eventsource.snapshots import Snapshot
from messagehandler.redaction import describe_error
from messagehandler.telemetry.attributes import TABLES_SYSTEM
from messagehandler.telemetry.propagation import current_trace
from messagehandler.telemetry.store import store_attributes, traced_append, traced_load, traced_read

_log = logging.getLogger(__name__)

Credential = AzureNamedKeyCredential | AzureSasCredential | AsyncTokenCredential

MAX_PAGE_SIZE = 1000
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")

_STREAM_ROWS = f"(RowKey lt '{RESERVED_PREFIX}' or RowKey ge '{chr(ord(RESERVED_PREFIX) + 1)}')"
"""Every row key but the reserved `$` ones (snapshots of up to 1 MiB, outbox rows): those stay on the service."""
_PARTITION = f"PartitionKey eq @pk and {_STREAM_ROWS}"
_PARTITION_SINCE = f"PartitionKey eq @pk and Timestamp ge @since and {_STREAM_ROWS}"
_CHECK_COLUMNS = ["RowKey", VERSION, EVENT_ID, *RECORD_COLUMNS]
_OUTBOX_RACE_ATTEMPTS = 8
"""Appends retried when the outbox row changed between reading and writing it (a publisher cleared it)."""
_MAX_ENTITIES = DEFAULT_LIMITS.entities_per_transaction
_SECRET_PARTS = re.compile(r"(?i)(?:AccountKey|SharedAccessSignature|sig)=([^;&\s]+)")


def _check_client_kwargs(client_kwargs: dict[str, Any]) -> None:
    if client_kwargs.get("logging_enable"):
        raise ConfigurationError(
            "logging_enable=True turns on azure-core's network trace, which logs SAS tokens and signed "
            "Authorization headers unredacted; use the redacted HTTP log instead (logger "
            "'azure.core.pipeline.policies.http_logging_policy' at INFO)"
        )


class AzureTableStorageEventSource:
    """Implements `EventSource` on an Azure Storage (or Azurite, or Cosmos DB Table API) table.

    Rows: PartitionKey = stream type (`{type}-{shard:02d}` with `shards` > 1), RowKey =
    `{stream id}_{version:010d}`, and one column per metadata field next to the JSON `Body`.

    Transient faults (429, 500, 503, timeouts) are retried by the Azure SDK's retry policy; tune it
    with the client keyword arguments, passed through unchanged: `retry_total` (default 10),
    `retry_backoff_factor` (0.8 s), `retry_backoff_max` (120 s), `retry_mode`
    (`RetryMode.Exponential`), `connection_timeout` and `read_timeout` (seconds), and `transport`.
    `logging_enable=True` is refused: azure-core's network trace logs credentials unredacted.
    An append whose outcome stays unknown after the retries is checked by reading its rows back.

    With `outbox=True`, every append also writes the stream's outbox row in the same transaction
    (see `messagehandler.eventsource.outbox`); one transaction then holds at most 99 events.

    `shards` spreads each type over that many partitions (one partition serves about 2,000
    entities/s); it decides where rows live, so it must never change for a table holding data.
    """

    def __init__(
        self,
        endpoint: str,
        table_name: str,
        credential: Credential | None = None,
        *,
        registry: EventTypeRegistry | None = None,
        serializer: EventSerializer | None = None,
        shards: int = 1,
        create_table: bool = True,
        page_size: int = MAX_PAGE_SIZE,
        body_chunk_chars: int = BODY_CHUNK_CHARS,
        outbox: bool = False,
        **client_kwargs: Any,
    ) -> None:
        _check_table_name(table_name)
        _check_client_kwargs(client_kwargs)
        try:
            client = TableClient(endpoint, table_name, credential=credential, **client_kwargs)
        except (ValueError, TypeError, AttributeError):
            raise ConfigurationError(
                f"cannot use the endpoint or credential given for table {table_name!r}: expected an "
                "https://<account>.table.core.windows.net URL and a key, SAS or token credential"
            ) from None
        self._setup(
            client,
            table_name,
            registry,
            serializer,
            shards,
            create_table,
            page_size,
            body_chunk_chars,
            outbox,
            _credential_secrets(credential),
        )

    @classmethod
    def from_connection_string(
        cls,
        conn_str: str,
        table_name: str,
        *,
        registry: EventTypeRegistry | None = None,
        serializer: EventSerializer | None = None,
        shards: int = 1,
        create_table: bool = True,
        page_size: int = MAX_PAGE_SIZE,
        body_chunk_chars: int = BODY_CHUNK_CHARS,
        outbox: bool = False,
        **client_kwargs: Any,
    ) -> Self:
        """A source for `table_name` in the account of a storage connection string (the key is never logged)."""
        _check_table_name(table_name)
        _check_client_kwargs(client_kwargs)
        try:
            client = TableClient.from_connection_string(conn_str, table_name, **client_kwargs)
        except (ValueError, TypeError, AttributeError, KeyError):
            raise ConfigurationError(
                f"the connection string for table {table_name!r} is malformed: expected "
                "'AccountName=...;AccountKey=...' or a SAS, with 'TableEndpoint=...' or 'EndpointSuffix=...' "
                "(its value is not shown because it holds a secret)"
            ) from None
        source = cls.__new__(cls)
        secrets = (conn_str, *_SECRET_PARTS.findall(conn_str))
        source._setup(
            client, table_name, registry, serializer, shards, create_table, page_size, body_chunk_chars, outbox, secrets
        )
        return source

    def _setup(
        self,
        client: TableClient,
        table_name: str,
        registry: EventTypeRegistry | None,
        serializer: EventSerializer | None,
        shards: int,
        create_table: bool,
        page_size: int,
        body_chunk_chars: int,
        outbox: bool,
        secrets: tuple[str, ...],
    ) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigurationError(f"page_size must be an int from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
        if not isinstance(body_chunk_chars, int) or not 2 <= body_chunk_chars <= BODY_CHUNK_CHARS:
            raise ConfigurationError(
                f"body_chunk_chars must be an int from 2 to {BODY_CHUNK_CHARS}, got {body_chunk_chars!r}"
            )
        self._client = client
        self._rows = JsonRows(client)
        self._table_name = table_name
        self._serializer: EventSerializer = serializer if serializer is not None else JsonEventSerializer(registry)
        self._shards = check_shards(shards)
        self._create_table = create_table
        self._page_size = page_size
        self._body_chunk_chars = body_chunk_chars
        self._table_ready = False
        self._table_lock = asyncio.Lock()
        self._outbox = outbox
        self._service = f"table {table_name!r}"
        self._secrets = secrets
        self._lifecycle = TableStreamLifecycle(client, self._shards, self._errors, self._ready, self._service)
        self._outbox_rows = TableOutbox(
            client,
            self._shards,
            self._errors,
            self._rows,
            self._ready,
            self._get_entity,
            lambda error: describe_error(error, self._secrets),
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(account={self._client.account_name!r}, table={self._table_name!r}, "
            f"shards={self._shards})"
        )

    @property
    def registry(self) -> EventTypeRegistry:
        return self._serializer.registry

    @property
    def table_name(self) -> str:
        return self._table_name

    @property
    def telemetry_attributes(self) -> dict[str, Any]:
        """What spans of this source say about it: `db.system.name` `azure.tables`, account, table, server."""
        return store_attributes(
            TABLES_SYSTEM, namespace=self._client.account_name, collection=self._table_name, url=self._client.url
        )

    @property
    def table_client(self) -> TableClient:
        """The underlying SDK client, for table operations this source does not offer."""
        return self._client

    @traced_append
    async def append(
        self,
        stream_type: str,
        stream_id: str,
        expected_version: int,
        events: Sequence[Event],
        *,
        version_known: bool = False,
        snapshot: Snapshot | None = None,
    ) -> OutboxEntry | None:
        """Store `events` in one entity group transaction after `expected_version`.

        Every error but `OutcomeUnknownError` means nothing of the append was stored.

        The transaction creates the rows of the new versions, so a competing writer's rows make it
        fail: that is the conflict check. With `version_known` (the repository read the event at
        `expected_version` in this unit of work) the append is that one request; without it, a point
        read first checks that the expected version exists, since creating version N + 1 of a
        stream holding fewer events would succeed and leave a gap. An archived stream holds a
        lifecycle row right after its last event, a deleted one at every version up to that one, so a
        writer whose knowledge predates the archive or delete collides with one like with a competing
        writer's row, and reading back names the archive or delete. `snapshot`, when given
        and within the limits, is upserted as the stream's `$snapshot_` row in the same transaction.

        Raises:
            ConcurrencyError: another writer appended first; nothing was stored.
            UnstorableEventError: an event would not read back as it is; nothing was written.
            TableLimitError: the transaction would exceed a Table Storage limit; nothing was written.
            InvalidKeyError: the stream type or id cannot be a Table Storage key.
            NotCommittedError: the request never reached the service, or reading back proved that
                nothing was stored; the same append can be retried as it is.
            OutcomeUnknownError: the service may have stored the events and reading them back failed;
                reload before deciding (retrying the same append is safe: stored event ids are not
                written twice).
            AccessDeniedError: the credentials were refused.
            TableNotFoundError: the table does not exist and `create_table` is off.
        """
        check_append(stream_type, stream_id, expected_version, events)
        if not events:
            return None
        stream = f"{stream_type}/{stream_id}"
        partition = partition_key(stream_type, stream_id, self._shards)
        await prepare_to_write(self._serializer, events)
        serialize = self._serializer.serialize
        chunk_chars = self._body_chunk_chars
        bodies = [serialize(event) for event in events]
        entities = [to_entity(partition, event, body, chunk_chars) for event, body in zip(events, bodies, strict=True)]
        first, last = expected_version + 1, expected_version + len(events)
        outbox_row = None
        if self._outbox:
            outbox_row = outbox_entity(
                partition, stream_id, first, last, since=datetime.now(UTC), trace=current_trace()
            )
        small = chunk_chars == BODY_CHUNK_CHARS and surely_within(events, bodies, DEFAULT_LIMITS)
        if not small:
            check_rows(stream, entities, outbox_row=outbox_row)
        tail: list[Any] = []
        if snapshot is not None:
            snapshot_row = snapshot_entity(partition, stream_id, snapshot, chunk_chars)
            if snapshot_fits(stream, entities, snapshot_row, outbox_row=outbox_row):
                tail.append(("upsert", snapshot_row, {"mode": UpdateMode.REPLACE}))
        with self._before_sending(stream):
            await self._ready()
            if (
                expected_version > 0
                and not version_known
                and not await self._row_exists(partition, stream_type, stream_id, expected_version)
            ):
                actual = await self._last_version(partition, stream_id, 1, stream_type)
                raise ConcurrencyError(stream_type, stream_id, expected_version, actual)
        operations: list[Any] = [("create", entity) for entity in entities]
        outbox_operation: Any = None
        folded: OutboxEntry | None = None
        riders: list[OutboxEntry] = []
        if outbox_row is not None:
            outbox_operation, folded = await self._outbox_rows.first_operation(partition, stream_id, outbox_row)
            if small:
                riders = self._outbox_rows.riders(partition, stream_id, _MAX_ENTITIES - len(entities) - 1 - len(tail))
        for _ in range(_OUTBOX_RACE_ATTEMPTS):
            own = operations if outbox_operation is None else [*operations, outbox_operation]
            try:
                result = await self._client.submit_transaction(
                    [*own, *tail, *(self._outbox_rows.delete_operation(partition, e) for e in riders)]
                )
            except Exception as error:
                index = getattr(error, "index", None)
                if riders and isinstance(index, int):
                    rider = index - len(own) - len(tail)
                    if self._outbox_rows.rider_failed(riders, rider, error):
                        riders = []
                        continue
                self._outbox_rows.give_back(folded, *riders)
                folded, riders = None, []
                failed = classify(error, event_rows=len(entities), with_outbox=outbox_row is not None)
                if failed is Failed.OUTBOX_ROW_CHANGED:
                    assert outbox_row is not None
                    with self._before_sending(stream):
                        outbox_operation = await self._outbox_rows.retry_operation(partition, stream_id, outbox_row)
                    continue
                await self._settle(failed, error, stream_type, stream_id, expected_version, partition, events)
                if not self._outbox:
                    return None
                return await self._outbox_rows.read_entry(stream_type, partition, stream_id)
            except BaseException:
                self._outbox_rows.give_back(folded, *riders)
                raise
            self._outbox_rows.settled(folded, *riders)
            _log.debug("appended %d events to %s, versions %d..%d", len(events), stream, first, last)
            if outbox_row is None:
                return None
            token = result[len(operations)]["etag"]
            return OutboxEntry(stream_type, stream_id, outbox_operation[1][FROM_VERSION], last, token)
        raise ConcurrencyError(stream_type, stream_id, expected_version, None)

    @contextlib.contextmanager
    def _before_sending(self, stream: str) -> Iterator[None]:
        """Failures before the transaction is sent: nothing can have been stored."""
        try:
            with self._errors(f"append to {stream}"):
                yield
        except NotCommittedError:
            raise
        except ServiceUnavailableError as error:
            raise NotCommittedError(
                f"append to {stream} was not committed: {error}", service=self._service, reached_service=False
            ) from error

    def _errors(self, action: str) -> contextlib.AbstractContextManager[None]:
        return azure_errors(
            self._service,
            action=action,
            secrets=self._secrets,
            not_found=lambda: TableNotFoundError(self._table_name),
        )

    async def _settle(
        self,
        failed: Failed,
        error: Exception,
        stream_type: str,
        stream_id: str,
        expected_version: int,
        partition: str,
        events: Sequence[Event],
    ) -> None:
        """Act on a failed transaction: raise what it means, or return when our events are stored after all."""
        stream = f"{stream_type}/{stream_id}"
        cause = RedactedCauseError(error, self._secrets)
        match failed:
            case Failed.NOT_A_SERVICE_FAILURE:
                raise error
            case Failed.TABLE_MISSING:
                raise TableNotFoundError(self._table_name) from cause
            case Failed.NOT_SENT:
                raise NotCommittedError(
                    f"append to {stream} on {self._service} was not committed: the request never reached the "
                    f"service ({describe_error(error, self._secrets)}); retry it as it is",
                    service=self._service,
                    reached_service=False,
                ) from cause
            case Failed.REFUSED | Failed.OUTBOX_ROW_CHANGED:
                raise map_azure_error(
                    error, self._service, action=f"append to {stream}", secrets=self._secrets
                ) from cause
            case Failed.VERSION_ROW_EXISTS | Failed.AMBIGUOUS | Failed.TIMED_OUT:
                stored = await self._read_back(stream, partition, stream_id, events, error, cause)
        ours = [event.metadata.event_id for event in events]
        if stored == ours:
            _log.info("append to %s failed (%s) but was stored: same event ids, not written again", stream, failed.name)
            return
        if not stored and failed is Failed.AMBIGUOUS:
            raise NotCommittedError(
                f"append to {stream} on {self._service} failed ({describe_error(error, self._secrets)}) and reading "
                "back showed nothing was stored; retry it as it is",
                service=self._service,
            ) from cause
        if not stored and failed is Failed.TIMED_OUT:
            raise OutcomeUnknownError(
                f"append to {stream} on {self._service} timed out ({describe_error(error, self._secrets)}) and is not "
                "stored yet, but the request may still be carried out; reload the aggregate before deciding "
                "(retrying the same append stores nothing twice)",
                service=self._service,
            ) from cause
        actual = await self._last_version_or_none(partition, stream_id, expected_version + 1, stream_type)
        raise ConcurrencyError(stream_type, stream_id, expected_version, actual)

    async def _read_back(
        self,
        stream: str,
        partition: str,
        stream_id: str,
        events: Sequence[Event],
        error: Exception,
        cause: RedactedCauseError,
    ) -> list[str]:
        try:
            with self._errors(f"read back the append to {stream}"):
                return await self._stored_event_ids(partition, stream_id, events)
        except ServiceUnavailableError as unavailable:
            _log.warning("outcome of an append to %s is unknown and could not be checked: %s", stream, unavailable)
            raise OutcomeUnknownError(
                f"append to {stream} on {self._service} failed ({describe_error(error, self._secrets)}) and may "
                f"or may not be stored: reading it back failed too ({unavailable}); reload the aggregate before "
                "deciding (retrying the same append stores nothing twice)",
                service=self._service,
                status=unavailable.status,
                code=unavailable.code,
            ) from cause

    async def _last_version_or_none(
        self, partition: str, stream_id: str, from_version: int, stream_type: str
    ) -> int | None:
        """The stream's last version for a ConcurrencyError; None when even that cannot be read."""
        try:
            with self._errors("read the last version"):
                return await self._last_version(partition, stream_id, from_version, stream_type) or None
        except ServiceUnavailableError:
            return None

    async def _get_entity(self, partition: str, row_key: str, select: list[str] | None = None) -> Any:
        """One row, or None when it does not exist (a missing table still raises TableNotFoundError)."""
        try:
            return await self._client.get_entity(partition, row_key, select=select)
        except ResourceNotFoundError as error:
            if error_code_of(error) == "TableNotFound":
                raise
            return None

    @property
    def outbox_enabled(self) -> bool:
        return self._outbox

    def pending(self, stream_type: str) -> AsyncIterator[OutboxEntry]:
        """Outbox entries of every shard of the type, sorted by stream id (after this process's queued clears)."""
        return self._outbox_rows.pending(stream_type)

    async def clear(self, entry: OutboxEntry) -> bool:
        return await self._outbox_rows.clear(entry)

    def clear_later(self, entry: OutboxEntry) -> None:
        """Delete the entry's row after the caller moved on, batched with others (see `azure_tables.outbox`)."""
        self._outbox_rows.clear_later(entry)

    async def cleared(self) -> None:
        await self._outbox_rows.cleared()

    async def _stored_event_ids(self, partition: str, stream_id: str, events: Sequence[Event]) -> list[str]:
        """The event ids stored at the versions of `events`; an archive mark or tombstone there raises its error."""
        first, last = events[0].metadata.version, events[-1].metadata.version
        params = {"pk": partition, "lo": row_key(stream_id, first), "hi": row_key(stream_id, last + 1)}
        rows = self._query(KEY_RANGE, params, select=_CHECK_COLUMNS, action="read back event ids")
        ids: list[str] = []
        async for row in rows:
            if stream_of(row) == stream_id:
                if is_lifecycle_row(row):
                    raise archived_error(record_from_row(events[0].metadata.source_type, row))
                ids.append(str(row.get(EVENT_ID)))
        return ids

    async def _row_exists(self, partition: str, stream_type: str, stream_id: str, version: int) -> bool:
        """Whether the event at `version` exists; an archive mark or tombstone there raises its error."""
        row = await self._get_entity(partition, row_key(stream_id, version), select=[VERSION, *RECORD_COLUMNS])
        if row is not None and is_lifecycle_row(row):
            raise archived_error(record_from_row(stream_type, row))
        return row is not None

    async def _last_version(self, partition: str, stream_id: str, from_version: int, stream_type: str) -> int:
        """The last event version at or after `from_version`; an archive mark or tombstone raises its error."""
        params = {"pk": partition, "lo": row_key(stream_id, from_version), "hi": stream_end(stream_id)}
        last = 0
        async for row in self._query(KEY_RANGE, params, select=_CHECK_COLUMNS, action="read the last version"):
            if stream_of(row) != stream_id:
                continue
            if is_lifecycle_row(row):
                raise archived_error(record_from_row(stream_type, row))
            last = max(last, version_in(row) or 0)
        return last

    @traced_load
    async def load(self, stream_type: str, stream_id: str, *, from_version: int = 1) -> list[Event]:
        validate_stream(stream_type, stream_id)
        start = max(from_version, 1)
        if start > MAX_VERSION:
            return []
        await self._ready()
        params = {
            "pk": partition_key(stream_type, stream_id, self._shards),
            "lo": row_key(stream_id, start),
            "hi": stream_end(stream_id),
        }
        deserialize = self._serializer.deserialize
        prepare = read_preparer(self._serializer)
        events: list[Event] = []
        async for row in self._query(KEY_RANGE, params, action=f"load {stream_type}/{stream_id}"):
            if stream_of(row) == stream_id:
                if is_lifecycle_row(row):
                    record = record_from_row(stream_type, row)
                    if record.state is StreamState.DELETED:
                        raise archived_error(record)
                    continue
                meta, body = from_entity(row, stream_type, stored_at(row))
                if prepare is not None and meta.encryption_key_id is not None:
                    await prepare(((meta, body),))
                events.append(deserialize(body, meta))
        return events

    async def read_snapshot(self, stream_type: str, stream_id: str) -> Snapshot | None:
        """The stream's `$snapshot_` row, one point read; None when there is none or it cannot be read.

        A snapshot only saves replaying events, so a row that is not one (another tool wrote it, a
        column is missing) is logged and ignored: the aggregate is replayed from its events.
        """
        validate_stream(stream_type, stream_id)
        await self._ready()
        partition = partition_key(stream_type, stream_id, self._shards)
        with self._errors(f"read the snapshot of {stream_type}/{stream_id}"):
            row = await self._get_entity(partition, snapshot_row_key(stream_id))
        if row is None:
            return None
        try:
            return snapshot_from_row(row)
        except (KeyError, TypeError, ValueError) as error:
            _log.warning("snapshot row of %s/%s is unreadable, ignored: %r", stream_type, stream_id, error)
            return None

    async def archive(
        self, stream_type: str, stream_id: str, *, who: str | None = None, reason: str | None = None
    ) -> LifecycleRecord:
        """Archive a stream: left out of `read_type` and `read_changes`, still loaded by `load`, read-only.

        Raises:
            StreamNotFoundError: the stream has no events.
            StreamDeletedError: the stream was deleted.
            UnpublishedEventsError: the stream has outbox entries not yet published; run the relay first.
        """
        return await self._lifecycle.archive(stream_type, stream_id, who=who, reason=reason)

    async def unarchive(self, stream_type: str, stream_id: str) -> bool:
        """Make an archived stream live again; False when it was not archived."""
        return await self._lifecycle.unarchive(stream_type, stream_id)

    async def delete(
        self, stream_type: str, stream_id: str, *, who: str | None = None, reason: str | None = None
    ) -> LifecycleRecord:
        """Delete a stream's events, leaving a tombstone: its id can never start again at version 1.

        Raises:
            StreamNotFoundError: the stream has no events.
            UnpublishedEventsError: the stream has outbox entries not yet published; run the relay first.
        """
        return await self._lifecycle.delete(stream_type, stream_id, who=who, reason=reason)

    async def lifecycle(self, stream_type: str, stream_id: str) -> LifecycleRecord | None:
        """The archive or delete record of a stream; None while it is live."""
        return await self._lifecycle.lifecycle(stream_type, stream_id)

    async def read_archived(self, stream_type: str) -> AsyncIterator[EventStream]:
        """The archived streams of a type, whole."""
        await self._ready()
        partitions = [
            self._read_partition(stream_type, pk, None, None, archived=True)
            for pk in partition_keys(stream_type, self._shards)
        ]
        async for stream in merge(partitions):
            yield stream

    def read_type(self, stream_type: str, *, bad_rows: SkipBadRows | None = None) -> AsyncIterator[EventStream]:
        return self.read_changes(stream_type, bad_rows=bad_rows)

    @traced_read
    async def read_changes(
        self, stream_type: str, since: datetime | None = None, *, bad_rows: SkipBadRows | None = None
    ) -> AsyncIterator[EventStream]:
        """Rows whose `Timestamp` (the service's commit time) is at or after `since`, grouped per stream.

        Raises:
            UnreadableEventError: a row cannot be read (without a `bad_rows` policy); it names the
                table, the partition and row keys and the reason.
            ServiceUnavailableError: the table could not be read; retry later.
        """
        await self._ready()
        partitions = [
            self._read_partition(stream_type, pk, since, bad_rows) for pk in partition_keys(stream_type, self._shards)
        ]
        async for stream in merge(partitions):
            yield stream

    async def _read_partition(
        self,
        stream_type: str,
        partition: str,
        since: datetime | None,
        bad_rows: SkipBadRows | None,
        *,
        archived: bool = False,
    ) -> AsyncIterator[EventStream]:
        """Streams of one partition, each complete once the RowKeys have passed its range.

        Rows come in RowKey order, so a stream's rows are contiguous except where another id extends it
        (`x` and `x_0000000001`): those nest, and a stack of open streams keeps them apart. A stream
        holding a row that cannot be read stays on the stack, marked, and is skipped when it closes;
        so is an archived or deleted one (its lifecycle row says so), unless `archived` asks for
        the archived streams only.
        """
        wanted = StreamState.ARCHIVED.value if archived else None
        deserialize = self._serializer.deserialize
        prepare = read_preparer(self._serializer)
        open_streams: list[_OpenStream] = []
        action = f"read partition {partition!r}"
        if since is None:
            rows = self._query(_PARTITION, {"pk": partition}, action=action)
        else:
            rows = self._query(_PARTITION_SINCE, {"pk": partition, "since": since}, action=action)
        async for row in rows:
            key = row["RowKey"]
            while open_streams and key >= open_streams[-1].end:
                if (done := open_streams.pop()).readable and done.retired == wanted:
                    yield EventStream(stream_type, done.stream_id, done.events)
            if is_lifecycle_row(row):
                retired = text_of(row[SOURCE_ID])
                if not open_streams or open_streams[-1].stream_id != retired:
                    open_streams.append(_OpenStream(retired, stream_end(retired)))
                open_streams[-1].retired = text_of(row[KIND])
                continue
            try:
                meta, body = from_entity(row, stream_type, stored_at(row))
                if prepare is not None and meta.encryption_key_id is not None:
                    await prepare(((meta, body),))
                event: Event | None = deserialize(body, meta)
                stream_id: str | None = meta.source_id
            except Exception as error:
                if not is_unreadable(error):
                    raise
                stream_id, event = self._skip_row(stream_type, partition, row, error, bad_rows), None
            if stream_id is None:
                continue
            if not open_streams or open_streams[-1].stream_id != stream_id:
                open_streams.append(_OpenStream(stream_id, stream_end(stream_id)))
            if event is None:
                open_streams[-1].readable = False
            elif open_streams[-1].readable:
                open_streams[-1].events.append(event)
        while open_streams:
            if (done := open_streams.pop()).readable and done.retired == wanted:
                yield EventStream(stream_type, done.stream_id, done.events)

    def _skip_row(
        self, stream_type: str, partition: str, row: Any, error: BaseException, bad_rows: SkipBadRows | None
    ) -> str | None:
        """Report an unreadable row (or raise it without a policy); the id of the stream it belongs to, if known."""
        key = str(row["RowKey"])
        stream_id = stream_of(row)
        version = version_in(row)
        settle(
            bad_rows,
            unreadable(
                self._service,
                error,
                stream_type=stream_type,
                stream_id=stream_id or None,
                version=version,
                partition_key=partition,
                row_key=key,
            ),
        )
        return stream_id or None

    async def stream_ids(self, stream_type: str) -> AsyncIterator[str]:
        await self._ready()
        partitions = [self._first_rows(pk) for pk in partition_keys(stream_type, self._shards)]
        async for stream_id in merge(partitions):
            yield stream_id

    async def _first_rows(self, partition: str) -> AsyncIterator[str]:
        """The SourceId of each version-1 row, read as narrow rows and filtered here.

        Other clients store `Version` as Int32 or as Int64, and a filter matches one type only
        (`Version eq 1` or `Version eq 1L`); Azurite fails a query comparing an Int64 literal with
        an Int32 column, so the comparison is made on this side.
        """
        rows = self._query(_PARTITION, {"pk": partition}, select=_CHECK_COLUMNS, action="list stream ids")
        async for row in rows:
            if is_lifecycle_row(row):
                continue
            if version_in(row) == 1 and (stream_id := stream_of(row)):
                yield stream_id

    async def _query(
        self, query_filter: str, parameters: dict[str, Any], *, select: list[str] | None = None, action: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Rows as JSON objects with their typed values converted (see `json_rows`), page by page.

        Failures are mapped to messagehandler errors naming the table and `action`.
        """
        with self._errors(action):
            async for page in self._rows.pages(query_filter, parameters, select=select, page_size=self._page_size):
                for row in page:
                    yield typed(row)

    async def _ready(self) -> None:
        if self._table_ready:
            return
        async with self._table_lock:
            if self._table_ready:
                return
            if self._create_table:
                with self._errors("create the table"), contextlib.suppress(ResourceExistsError):
                    await self._client.create_table()
            self._table_ready = True

    async def close(self) -> None:
        """Send the queued outbox clears, then close the HTTP session; a token credential passed in stays open."""
        try:
            await self._outbox_rows.cleared()
        finally:
            await self._outbox_rows.stop()
            await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


@dataclass
class _OpenStream:
    """A stream whose rows are being read: its id, the RowKey past its last row, its events so far."""

    stream_id: str
    end: str
    events: list[Event] = field(default_factory=list)
    readable: bool = True
    retired: str | None = None
    """The `Kind` of the stream's lifecycle row, when it is archived or deleted."""


def _credential_secrets(credential: object) -> tuple[str, ...]:
    """The secret strings a credential holds, to be masked in every message."""
    if isinstance(credential, AzureNamedKeyCredential):
        return (credential.named_key.key,)
    if isinstance(credential, AzureSasCredential):
        return (credential.signature, *_SECRET_PARTS.findall(credential.signature))
    return ()


def _check_table_name(table_name: object) -> None:
    if not isinstance(table_name, str) or not _TABLE_NAME.match(table_name):
        raise ConfigurationError(
            f"table name {table_name!r} is not valid: 3 to 63 letters and digits, starting with a letter"
        )
