"""Archive and delete on Table Storage (see `messagehandler.eventsource.lifecycle_rows` for the rows).

Archiving creates one row after the stream's last event, so it races an append like a second writer
would and exactly one of them wins. Deleting first writes the tombstone and the end mark in one
entity group transaction, from which moment the stream reads as deleted and no append can land;
then it replaces each event row by a stub (a copy of the tombstone, without payload) in
transactions of up to 100. Stubs rather than deletes: a writer that loaded the stream before a
competing append and the delete expects a version below the end mark, and with `version_known` its
append is one transaction creating that row; a removed row would let it be created inside the deleted
stream, a stub makes it collide like any competing writer's row. A stub is a replace, as cheap as a
delete in the same transaction, and keeps a few hundred bytes per removed event. A delete
interrupted half way leaves a deleted stream with some rows still to replace, and running it again
finishes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from messagehandler.azure_errors import error_code, error_status
from messagehandler.errors import ServiceError
from messagehandler.eventsource.azure_tables.json_rows import KEY_RANGE
from messagehandler.eventsource.azure_tables.sharding import partition_key
from messagehandler.eventsource.keys import validate_stream
from messagehandler.eventsource.lifecycle import (
    LifecycleRecord,
    StreamState,
    archived_error,
    not_found,
    unpublished,
)
from messagehandler.eventsource.lifecycle_rows import (
    RECORD_COLUMNS,
    is_lifecycle_row,
    lifecycle_entity,
    record_from_row,
)
from messagehandler.eventsource.outbox_rows import FROM_VERSION, KIND, outbox_row_key
from messagehandler.eventsource.rows import SOURCE_ID, VERSION, row_key, stream_end, text_of, version_of
from messagehandler.eventsource.snapshot_rows import snapshot_row_key

_RACE_ATTEMPTS = 8
_BATCH = 100

Errors = Callable[[str], contextlib.AbstractContextManager[None]]


@dataclass
class _Rows:
    """A stream's rows as keys: event versions, lifecycle records (with their row keys and ETags)."""

    versions: list[int]
    marks: list[tuple[str, LifecycleRecord, str]]

    @property
    def last(self) -> int:
        return max(self.versions, default=0)

    def mark(self, state: StreamState) -> tuple[str, LifecycleRecord, str] | None:
        return next((m for m in self.marks if m[1].state is state), None)


class TableStreamLifecycle:
    """The lifecycle operations of `AzureTableStorageEventSource`, on its client and error mapping."""

    def __init__(
        self, client: TableClient, shards: int, errors: Errors, ready: Callable[[], Awaitable[None]], service: str
    ) -> None:
        self._client = client
        self._shards = shards
        self._errors = errors
        self._ready = ready
        self._service = service

    async def archive(
        self, stream_type: str, stream_id: str, *, who: str | None = None, reason: str | None = None
    ) -> LifecycleRecord:
        partition = await self._open(stream_type, stream_id)
        for _ in range(_RACE_ATTEMPTS):
            rows = await self._rows(stream_type, partition, stream_id)
            deleted = rows.mark(StreamState.DELETED)
            if deleted is not None:
                raise archived_error(deleted[1])
            archived = rows.mark(StreamState.ARCHIVED)
            if archived is not None:
                return archived[1]
            await self._check_ready(stream_type, partition, stream_id, rows, "archive")
            record = LifecycleRecord(stream_type, stream_id, StreamState.ARCHIVED, rows.last, _now(), who, reason)
            with self._errors(f"archive {record.stream}"):
                try:
                    await self._client.create_entity(lifecycle_entity(partition, rows.last + 1, record))
                except ResourceExistsError:
                    continue  # an append took that version first: look again
            return record
        raise self._racing(stream_type, stream_id, "archive")

    async def unarchive(self, stream_type: str, stream_id: str) -> bool:
        partition = await self._open(stream_type, stream_id)
        rows = await self._rows(stream_type, partition, stream_id)
        archived = rows.mark(StreamState.ARCHIVED)
        if archived is None:
            return False
        with self._errors(f"unarchive {stream_type}/{stream_id}"):
            try:
                await self._client.delete_entity(
                    partition, archived[0], etag=archived[2], match_condition=MatchConditions.IfNotModified
                )
            except ResourceModifiedError:
                return False  # deleted meanwhile: the stream is not archived any more
        return True

    async def delete(
        self, stream_type: str, stream_id: str, *, who: str | None = None, reason: str | None = None
    ) -> LifecycleRecord:
        partition = await self._open(stream_type, stream_id)
        for _ in range(_RACE_ATTEMPTS):
            rows = await self._rows(stream_type, partition, stream_id)
            deleted = rows.mark(StreamState.DELETED)
            if deleted is not None:
                record = deleted[1]
                break
            await self._check_ready(stream_type, partition, stream_id, rows, "delete")
            record = LifecycleRecord(stream_type, stream_id, StreamState.DELETED, rows.last, _now(), who, reason)
            if await self._mark_deleted(partition, record, rows.mark(StreamState.ARCHIVED)):
                break
        else:
            raise self._racing(stream_type, stream_id, "delete")
        await self._remove_events(stream_type, partition, stream_id, record)
        return record

    async def _mark_deleted(
        self, partition: str, record: LifecycleRecord, archived: tuple[str, LifecycleRecord, str] | None
    ) -> bool:
        """Write the tombstone and the end mark in one transaction; False when the stream's end moved meanwhile."""
        end: Any = ("create", lifecycle_entity(partition, record.last_version + 1, record))
        if archived is not None:
            options = {"mode": UpdateMode.REPLACE, "etag": archived[2]}
            end = ("update", end[1], {**options, "match_condition": MatchConditions.IfNotModified})
        tombstone = ("upsert", lifecycle_entity(partition, 1, record), {"mode": UpdateMode.REPLACE})
        with self._errors(f"delete {record.stream}"):
            try:
                await self._client.submit_transaction([tombstone, end])
            except Exception as error:
                if error_status(error) in (409, 412) and error_code(error) != "TableNotFound":
                    return False
                raise
        return True

    async def lifecycle(self, stream_type: str, stream_id: str) -> LifecycleRecord | None:
        partition = await self._open(stream_type, stream_id)
        rows = await self._rows(stream_type, partition, stream_id)
        found = rows.mark(StreamState.DELETED) or rows.mark(StreamState.ARCHIVED)
        return None if found is None else found[1]

    async def _open(self, stream_type: str, stream_id: str) -> str:
        validate_stream(stream_type, stream_id)
        await self._ready()
        return partition_key(stream_type, stream_id, self._shards)

    async def _rows(self, stream_type: str, partition: str, stream_id: str) -> _Rows:
        params = {"pk": partition, "lo": row_key(stream_id, 1), "hi": stream_end(stream_id)}
        rows = _Rows([], [])
        with self._errors(f"read the rows of {stream_type}/{stream_id}"):
            query = self._client.query_entities(
                KEY_RANGE, parameters=params, select=["RowKey", *RECORD_COLUMNS, VERSION]
            )
            async for row in query:
                if text_of(row.get(SOURCE_ID, "")) != stream_id:
                    continue
                if is_lifecycle_row(row):
                    rows.marks.append(
                        (str(row["RowKey"]), record_from_row(stream_type, row), str(row.metadata["etag"]))
                    )
                elif VERSION in row:
                    rows.versions.append(version_of(row[VERSION]))
        return rows

    async def _check_ready(self, stream_type: str, partition: str, stream_id: str, rows: _Rows, action: str) -> None:
        if rows.last == 0:
            raise not_found(stream_type, stream_id)
        with self._errors(f"read the outbox row of {stream_type}/{stream_id}"):
            try:
                await self._client.get_entity(partition, outbox_row_key(stream_id), select=[FROM_VERSION])
            except ResourceNotFoundError as error:
                if error_code(error) == "TableNotFound":
                    raise
                return
        raise unpublished(stream_type, stream_id, action)

    async def _remove_events(self, stream_type: str, partition: str, stream_id: str, record: LifecycleRecord) -> None:
        """Replace every event row of the stream by a stub, 100 per transaction; then delete its snapshot.

        Rows are overwritten where they are, by their RowKey: a row another tool wrote without a
        `Version` column, or with one that disagrees with its key, holds a payload to remove all the same.
        """
        params = {"pk": partition, "lo": row_key(stream_id, 1), "hi": stream_end(stream_id)}
        action = f"delete the events of {record.stream}"
        with self._errors(action):
            query = self._client.query_entities(
                KEY_RANGE, parameters=params, select=["RowKey", SOURCE_ID, VERSION, KIND]
            )
            doomed = [
                row["RowKey"]
                async for row in query
                if text_of(row.get(SOURCE_ID, "")) == stream_id and not is_lifecycle_row(row)
            ]
            for start in range(0, len(doomed), _BATCH):
                batch = [
                    ("upsert", {**lifecycle_entity(partition, 0, record), "RowKey": key}, {"mode": UpdateMode.REPLACE})
                    for key in doomed[start : start + _BATCH]
                ]
                await self._client.submit_transaction(batch)
            with contextlib.suppress(ResourceNotFoundError):
                await self._client.delete_entity(partition, snapshot_row_key(stream_id))

    def _racing(self, stream_type: str, stream_id: str, action: str) -> ServiceError:
        return ServiceError(
            f"{action} {stream_type}/{stream_id} on {self._service} kept racing appends; try again",
            service=self._service,
        )


def _now() -> datetime:
    return datetime.now(UTC)
