"""The outbox of the Table Storage source: a row in each append's transaction, cleared off the flush's path.

An append creates the stream's `$outbox_` row in its own transaction (or extends the row an earlier,
unpublished append left). Once the dispatcher has published an entry it hands it to `clear_later`,
and the flush returns: the row is deleted afterwards, guarded by its ETag, and never with a request
of its own while other appends are being made:

- the next append to the same stream folds the clear into its transaction: instead of creating the
  row it replaces the published one, guarded by the ETag it was published with, with its own range;
- the next append to another stream of the same partition carries the delete in its transaction
  (an entity group transaction may touch any rows of one partition), up to `MAX_RIDERS` of them;
- what no append took within `CLEAR_DELAY` is deleted in transactions of up to 100 rows per
  partition.

An entry is taken from the queue by exactly one of them at a time (a fold, a carried delete, a
batch), and an append to its stream waits while it is taken: then it folds the entry if it was
given back (the transaction carrying it failed) or creates the row if it was deleted. So an append
never meets a published row it does not know of, which it would extend and publish again.

A carried delete whose row changed meanwhile (another writer extended it) or is gone (the relay)
fails the transaction it rides in: that transaction is sent again without the carried deletes, the
failed one is dropped (there is nothing left to clear) and the others are queued again.

Nothing here can lose an event: a clear that fails (the row was extended by another writer, the
service is unavailable, the process stops first) leaves the row, and the relay publishes its range
again later (at least once). `pending` lists the rows only after the clears queued when it was
called are done, so it does not report an entry this process published before; `cleared` waits for
those only, so a stream of new appends cannot hold it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from messagehandler.azure_errors import error_code, is_service_failure
from messagehandler.errors import ServiceUnavailableError
from messagehandler.eventsource.azure_tables.json_rows import ETAG, KEY_RANGE, JsonRows, typed
from messagehandler.eventsource.azure_tables.sharding import partition_key, partition_keys
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.eventsource.outbox_rows import (
    ENTRY_COLUMNS,
    FROM_VERSION,
    OUTBOX_RANGE_END,
    OUTBOX_RANGE_START,
    SINCE,
    entry_from_row,
    outbox_row_key,
)

_log = logging.getLogger(__name__)

_BATCH = 100
_PAGE_SIZE = 1000
_GONE_OR_CHANGED = frozenset({"UpdateConditionNotSatisfied", "ConditionNotMet", "ResourceNotFound", "EntityNotFound"})
"""How an ETag-guarded delete fails when an append extended the row or it is already gone: nothing to clear."""
CLEAR_DELAY = 0.1
"""Seconds a published entry waits for an append to carry its delete before a batch of its own is sent."""
MAX_RIDERS = 50
"""Deletes one append carries at most (they are tiny: a key and an ETag each)."""

Errors = Callable[[str], contextlib.AbstractContextManager[None]]
Key = tuple[str, str]


@dataclass(slots=True)
class _Clear:
    """A published entry to clear, and the future that ends when it was cleared, folded or left for the relay."""

    entry: OutboxEntry
    done: asyncio.Future[None]


class TableOutbox:
    """Outbox rows of one table: the operations appends put in their transactions, and the clearing."""

    def __init__(
        self,
        client: TableClient,
        shards: int,
        errors: Errors,
        rows: JsonRows,
        ready: Callable[[], Awaitable[None]],
        get_entity: Callable[[str, str], Awaitable[Any]],
        describe: Callable[[BaseException], str],
    ) -> None:
        self._client = client
        self._shards = shards
        self._errors = errors
        self._rows = rows
        self._ready = ready
        self._get_entity = get_entity
        self._describe = describe
        self._queued: dict[Key, _Clear] = {}
        self._taken: dict[Key, _Clear] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._now = asyncio.Event()

    # The append's side ------------------------------------------------------------------------------

    async def first_operation(
        self, partition: str, stream_id: str, row: dict[str, Any]
    ) -> tuple[Any, OutboxEntry | None]:
        """The outbox operation of an append's first attempt, and the published entry it folds in, if any.

        A published entry still queued for its clear is taken and replaced, guarded by its ETag (no
        delete ever runs for it); one taken by another request is waited for; otherwise the row is
        created. The caller hands a folded entry back with `settled` or `give_back`.
        """
        key = (partition, stream_id)
        while (taken := self._taken.get(key)) is not None:
            await asyncio.shield(taken.done)
        if key not in self._queued:
            return ("create", row), None
        published = self._take(key)
        options = {
            "mode": UpdateMode.REPLACE,
            "etag": published.token,
            "match_condition": MatchConditions.IfNotModified,
        }
        return ("update", row, options), published

    def riders(self, partition: str, stream_id: str, room: int) -> list[OutboxEntry]:
        """Published entries of other streams of the partition, for an append to delete in its transaction.

        They are taken (an append to their streams waits) until the caller hands them back with
        `settled` or `give_back`.
        """
        keys = [key for key in self._queued if key[0] == partition and key[1] != stream_id and key not in self._taken]
        return [self._take(key) for key in keys[: min(room, MAX_RIDERS)]]

    @staticmethod
    def delete_operation(partition: str, entry: OutboxEntry) -> Any:
        """The ETag-guarded delete of an entry's row, as a transaction operation."""
        return (
            "delete",
            {"PartitionKey": partition, "RowKey": outbox_row_key(entry.stream_id)},
            {"etag": entry.token, "match_condition": MatchConditions.IfNotModified},
        )

    def rider_failed(self, riders: list[OutboxEntry], index: int, error: BaseException) -> bool:
        """Whether the transaction failed on carried delete `index` because its row changed or went.

        If so, that entry is dropped (nothing is left to clear) and the other riders are queued
        again; the caller sends its transaction again without them.
        """
        if not 0 <= index < len(riders) or error_code(error) not in _GONE_OR_CHANGED:
            return False
        self.settled(riders[index])
        self.give_back(*riders[:index], *riders[index + 1 :])
        return True

    def settled(self, *entries: OutboxEntry | None) -> None:
        """Taken entries whose fate is decided (their transaction succeeded, or their row changed): release them."""
        for entry in entries:
            if entry is not None:
                self._release(entry)

    def give_back(self, *entries: OutboxEntry | None) -> None:
        """Taken entries that were not cleared (the request carrying them failed or was cancelled): queue them again.

        A newer entry of the same stream queued meanwhile stays; it supersedes the one given back.
        """
        for entry in entries:
            if entry is None:
                continue
            key = self._key(entry)
            taken = self._taken.get(key)
            if key in self._queued:
                self._release(entry)
            elif taken is not None and taken.entry is entry:
                self._queued[key] = self._taken.pop(key)
            else:
                self._queued[key] = _Clear(entry, asyncio.get_running_loop().create_future())
        self._start()

    async def retry_operation(self, partition: str, stream_id: str, row: dict[str, Any]) -> Any:
        """After the outbox row changed under an append: create it, or extend the unpublished one, guarded by its ETag."""
        existing = await self._get_entity(partition, outbox_row_key(stream_id))
        if existing is None:
            return ("create", row)
        extended = {**row, FROM_VERSION: min(existing[FROM_VERSION], row[FROM_VERSION])}
        extended.pop(SINCE, None)  # the entry's age counts from the append that created it
        options = {
            "mode": UpdateMode.MERGE,
            "etag": existing.metadata["etag"],
            "match_condition": MatchConditions.IfNotModified,
        }
        return ("update", extended, options)

    async def read_entry(self, stream_type: str, partition: str, stream_id: str) -> OutboxEntry | None:
        """The outbox entry after a settled append; None (the relay will find it) when it cannot be read now."""
        try:
            with self._errors(f"read the outbox row of {stream_type}/{stream_id}"):
                row = await self._get_entity(partition, outbox_row_key(stream_id))
        except ServiceUnavailableError as error:
            _log.warning(
                "append to %s/%s is stored; its outbox row could not be read: %s", stream_type, stream_id, error
            )
            return None
        if row is None:
            return None
        return entry_from_row(stream_type, row, str(row.metadata["etag"]))

    # The publisher's and the relay's side -----------------------------------------------------------

    async def pending(self, stream_type: str) -> AsyncIterator[OutboxEntry]:
        """Entries of every shard of the type, sorted by stream id, once the clears queued so far are done.

        Each entry carries the service's time of the answer that listed it (the response's `Date`),
        so its age is measured on the service's clock alone.
        """
        await self.cleared()
        await self._ready()
        entries: list[OutboxEntry] = []
        answered: list[datetime] = []

        def answer_date(headers: Any) -> None:
            with contextlib.suppress(TypeError, ValueError):
                answered.append(parsedate_to_datetime(headers.get("Date")))

        for partition in partition_keys(stream_type, self._shards):
            params = {"pk": partition, "lo": OUTBOX_RANGE_START, "hi": OUTBOX_RANGE_END}
            with self._errors(f"read the outbox of {stream_type}"):
                pages = self._rows.pages(
                    KEY_RANGE, params, select=ENTRY_COLUMNS, page_size=_PAGE_SIZE, on_answer=answer_date
                )
                async for page in pages:
                    read_at = answered[-1] if answered else None
                    for row in map(typed, page):
                        entries.append(entry_from_row(stream_type, row, str(row[ETAG]), read_at=read_at))
        for entry in sorted(entries, key=lambda e: e.stream_id):
            yield entry

    async def clear(self, entry: OutboxEntry) -> bool:
        """Delete the entry's row now if it is unchanged; False when an append extended it."""
        partition = partition_key(entry.stream_type, entry.stream_id, self._shards)
        with self._errors(f"clear the outbox row of {entry.stream}"):
            try:
                await self._client.delete_entity(
                    partition,
                    outbox_row_key(entry.stream_id),
                    etag=entry.token,
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                return False
            except ResourceNotFoundError as error:
                if error_code(error) == "TableNotFound":
                    raise
        return True

    def clear_later(self, entry: OutboxEntry) -> None:
        """Queue the entry's row for a batched, ETag-guarded delete; the caller does not wait for it."""
        key = self._key(entry)
        queued = self._queued.get(key)
        done = queued.done if queued is not None else asyncio.get_running_loop().create_future()
        self._queued[key] = _Clear(entry, done)
        self._start()

    async def cleared(self) -> None:
        """Send the clears queued so far now and wait until each deleted its row, was folded or left for the relay.

        Entries queued after the call are not waited for, so appends going on meanwhile cannot hold it up.
        """
        waiting = [clear.done for clear in (*self._queued.values(), *self._taken.values())]
        if waiting and not self._stopped:
            self._now.set()
            self._start()  # a clearing task that was cancelled or failed would leave the queued ones waiting
            await asyncio.wait(waiting)

    async def stop(self) -> None:
        """Stop clearing: rows queued after the last `cleared()` stay in the outbox, for the relay."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _key(self, entry: OutboxEntry) -> Key:
        return partition_key(entry.stream_type, entry.stream_id, self._shards), entry.stream_id

    def _take(self, key: Key) -> OutboxEntry:
        """Move a queued entry to the taken ones; appends to its stream wait until it is released."""
        clear = self._taken[key] = self._queued.pop(key)
        return clear.entry

    def _release(self, entry: OutboxEntry) -> None:
        key = self._key(entry)
        taken = self._taken.get(key)
        if taken is not None and taken.entry is entry:
            del self._taken[key]
            if not taken.done.done():
                taken.done.set_result(None)

    def _start(self) -> None:
        if self._queued and not self._stopped and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._clear_queued())

    async def _clear_queued(self) -> None:
        while self._queued:
            if not self._now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._now.wait(), CLEAR_DELAY)
            self._now.clear()
            by_partition: dict[str, list[OutboxEntry]] = {}
            for key in [key for key in self._queued if key not in self._taken]:
                by_partition.setdefault(key[0], []).append(self._take(key))
            try:
                for partition, entries in by_partition.items():
                    for start in range(0, len(entries), _BATCH):
                        await self._delete(partition, entries[start : start + _BATCH])
            finally:
                for entries in by_partition.values():
                    self.settled(*entries)

    async def _delete(self, partition: str, entries: list[OutboxEntry]) -> None:
        """One transaction deleting these rows; a row extended or gone meanwhile is dropped from it and the rest retried."""
        remaining = list(entries)
        try:
            while remaining:
                operations = [self.delete_operation(partition, entry) for entry in remaining]
                try:
                    await self._client.submit_transaction(operations)
                    return
                except Exception as error:
                    index = getattr(error, "index", None)
                    if len(remaining) == 1:
                        index = 0 if index is None else index
                    if isinstance(index, int) and 0 <= index < len(remaining) and error_code(error) in _GONE_OR_CHANGED:
                        del remaining[index]
                        continue
                    _log.warning(
                        "could not clear %d published outbox rows of partition %r; the relay will publish them "
                        "again: %s",
                        len(remaining),
                        partition,
                        self._describe(error),
                        exc_info=not is_service_failure(error),
                    )
                    return
        finally:
            self.settled(*entries)
