"""Tenant isolation: one event source per tenant, chosen from the message context, never from the caller.

`TenantScopedEventSource` is an `EventSource` whose every call goes to the source of the tenant named
by `current_message_context().tenant_id` (set with `message_context(tenant_id=...)` by whoever
handles the request or message). Code running for tenant A has no way to name tenant B's source
through it: no method takes a tenant, a call without a tenant in the context is refused, and an
append of events emitted for another tenant is refused before anything is written.

Background work that belongs to no message (the outbox relay, catch-up feeds, durable read models,
the cache replicator) is run per tenant by operator code with `for_each_tenant`
(`messagehandler.eventsource.tenant_jobs`), which enters each tenant's context in turn; the tenants a
store holds are listed by a `TenantDirectory` (`TenantTables` lists the tables of `tenant_tables`).

The built-in layout is **a table per tenant** (`tenant_tables`), chosen over a partition prefix per
tenant in one table because:

- the boundary is the store's own: a tenant's source holds a client for its table only, and a SAS
  token can be limited to one table, so even a raw client with a tenant's credentials cannot read
  another tenant's rows (a partition prefix can only be scoped by key ranges, and one typo in a range
  is a leak);
- the row layout stays exactly the documented one (PartitionKey = stream type), so a tenant's table
  is read by the cache, the CLI and other tools like any event table;
- removing a tenant is dropping its tables, and each tenant's throughput and backups are its own.

The factory builds each tenant's source, so each can have its own key store and key-encryption key
(`messagehandler.personal`): one tenant's erasure or KEK rotation never touches another's.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from messagehandler.errors import ConfigurationError, MessageHandlerError, Remedy
from messagehandler.events.context import current_message_context
from messagehandler.events.event import Event
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.eventsource.append_options import append
from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.lifecycle import LifecycleRecord, StreamLifecycle
from messagehandler.eventsource.outbox import DeferredClearing, Outbox, OutboxEntry
from messagehandler.eventsource.protocol import EventSource, EventStream
from messagehandler.eventsource.snapshots import Snapshot, SnapshotSource

TenantSourceFactory = Callable[[str, EventTypeRegistry], EventSource]
"""Builds the source of one tenant, reading with the shared registry."""

TENANT_ID = re.compile(r"^[a-z0-9]+$")
_log = logging.getLogger(__name__)
CLOSE_CLEARING_WAIT = 10.0
"""Seconds `close` waits for clears still running in the background before it cancels them."""


class TenantRequiredError(MessageHandlerError):
    """A tenant-scoped source was used outside `message_context(tenant_id=...)`."""

    remedy = Remedy.FIX_CODE


class TenantMismatchError(MessageHandlerError):
    """Events emitted for one tenant were appended while the context names another; nothing was written."""

    remedy = Remedy.FIX_CODE


def tenant_tables(prefix: str) -> Callable[[str], str]:
    """Table names `{prefix}{tenant}` for tenant ids of lowercase letters and digits.

    Table names are case-insensitive and allow only letters and digits, so other ids could collide
    or not fit: they are refused with a `ConfigurationError` (map them yourself with any function
    from tenant id to table name).
    """
    if not re.match(r"^[A-Za-z][A-Za-z0-9]{0,61}$", prefix):
        raise ConfigurationError(f"table prefix {prefix!r} must start with a letter and hold only letters and digits")

    def name(tenant: str) -> str:
        if not TENANT_ID.match(tenant) or len(prefix) + len(tenant) > 63:
            raise ConfigurationError(
                f"tenant id {tenant!r} cannot name a table after {prefix!r}: use lowercase letters and digits, "
                f"at most {63 - len(prefix)} of them, or map tenant ids to table names with your own function"
            )
        return f"{prefix}{tenant}"

    return name


class TenantScopedEventSource:
    """An `EventSource` (with outbox and lifecycle) that serves the tenant of the current message context.

    Args:
        factory: builds a tenant's source from its id and the shared registry; called once per tenant,
            the source kept until `close`.
        registry: the event types every tenant's source reads (the repository registers into it).
    """

    def __init__(self, factory: TenantSourceFactory, *, registry: EventTypeRegistry | None = None) -> None:
        self._factory = factory
        self._registry = registry if registry is not None else EventTypeRegistry()
        self._sources: dict[str, EventSource] = {}
        self._clearing: set[asyncio.Task[bool]] = set()

    @property
    def registry(self) -> EventTypeRegistry:
        return self._registry

    @property
    def tenants(self) -> list[str]:
        """The tenants whose sources this process has opened; `TenantDirectory` lists those the store holds."""
        return sorted(self._sources)

    def _source_of(self, tenant_id: str) -> EventSource:
        if not isinstance(tenant_id, str) or not tenant_id:
            raise ConfigurationError(f"a tenant id is a non-empty string, got {tenant_id!r}")
        source = self._sources.get(tenant_id)
        if source is None:
            source = self._sources[tenant_id] = self._factory(tenant_id, self._registry)
        return source

    def current(self) -> EventSource:
        """The source of the tenant in the message context.

        Raises:
            TenantRequiredError: the context names no tenant.
        """
        tenant_id = current_message_context().tenant_id
        if tenant_id is None:
            raise TenantRequiredError(
                "this event source is tenant-scoped: run the code inside message_context(tenant_id=...)"
            )
        return self._source_of(tenant_id)

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
        """Append to the current tenant's stream.

        Raises:
            TenantRequiredError: the context names no tenant.
            TenantMismatchError: an event was emitted for another tenant (or for none); nothing was written.
        """
        source = self.current()
        tenant_id = current_message_context().tenant_id
        for event in events:
            emitted_for = event.metadata.tenant_id if event.has_metadata else None
            if emitted_for != tenant_id:
                raise TenantMismatchError(
                    f"event {type(event).__event_type__!r} for stream {stream_type}/{stream_id} was emitted for "
                    f"tenant {emitted_for!r} and cannot be appended for tenant {tenant_id!r}; nothing was written"
                )
        return await append(
            source, stream_type, stream_id, expected_version, events, version_known=version_known, snapshot=snapshot
        )

    async def read_snapshot(self, stream_type: str, stream_id: str) -> Snapshot | None:
        """The snapshot of the current tenant's stream.

        Raises:
            ConfigurationError: the tenant's source keeps no snapshots.
        """
        source = self.current()
        if not isinstance(source, SnapshotSource):
            raise ConfigurationError(f"the current tenant's event source ({source!r}) keeps no snapshots")
        return await source.read_snapshot(stream_type, stream_id)

    async def load(self, stream_type: str, stream_id: str, *, from_version: int = 1) -> list[Event]:
        return await self.current().load(stream_type, stream_id, from_version=from_version)

    def read_type(self, stream_type: str, *, bad_rows: SkipBadRows | None = None) -> AsyncIterator[EventStream]:
        return self.current().read_type(stream_type, bad_rows=bad_rows)

    def read_changes(
        self, stream_type: str, since: datetime | None = None, *, bad_rows: SkipBadRows | None = None
    ) -> AsyncIterator[EventStream]:
        return self.current().read_changes(stream_type, since, bad_rows=bad_rows)

    def stream_ids(self, stream_type: str) -> AsyncIterator[str]:
        return self.current().stream_ids(stream_type)

    @property
    def outbox_enabled(self) -> bool:
        """Whether the current tenant's source keeps an outbox."""
        source = self.current()
        return isinstance(source, Outbox) and source.outbox_enabled

    def pending(self, stream_type: str) -> AsyncIterator[OutboxEntry]:
        return self._outbox().pending(stream_type)

    async def clear(self, entry: OutboxEntry) -> bool:
        return await self._outbox().clear(entry)

    def clear_later(self, entry: OutboxEntry) -> None:
        """Clear the entry through the current tenant's source, later when it can, else now in the background."""
        outbox = self._outbox()
        if isinstance(outbox, DeferredClearing):
            outbox.clear_later(entry)
        else:
            task = asyncio.get_running_loop().create_task(outbox.clear(entry))
            self._clearing.add(task)
            task.add_done_callback(self._clearing.discard)
            task.add_done_callback(_log_failed_clear)

    async def cleared(self) -> None:
        """Wait for every tenant's queued clears."""
        for source in list(self._sources.values()):
            if isinstance(source, DeferredClearing):
                await source.cleared()
        if self._clearing:
            await asyncio.gather(*self._clearing, return_exceptions=True)

    async def archive(
        self, stream_type: str, stream_id: str, *, who: str | None = None, reason: str | None = None
    ) -> LifecycleRecord:
        return await self._lifecycle().archive(stream_type, stream_id, who=who, reason=reason)

    async def unarchive(self, stream_type: str, stream_id: str) -> bool:
        return await self._lifecycle().unarchive(stream_type, stream_id)

    async def delete(
        self, stream_type: str, stream_id: str, *, who: str | None = None, reason: str | None = None
    ) -> LifecycleRecord:
        return await self._lifecycle().delete(stream_type, stream_id, who=who, reason=reason)

    async def lifecycle(self, stream_type: str, stream_id: str) -> LifecycleRecord | None:
        return await self._lifecycle().lifecycle(stream_type, stream_id)

    def read_archived(self, stream_type: str) -> AsyncIterator[EventStream]:
        return self._lifecycle().read_archived(stream_type)

    async def close(self) -> None:
        """Close every tenant's source, once the clears running in the background ended or were cancelled.

        A clear still running after `CLOSE_CLEARING_WAIT` seconds is cancelled; its entry stays for the relay.
        """
        if self._clearing:
            _, late = await asyncio.wait(set(self._clearing), timeout=CLOSE_CLEARING_WAIT)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        sources, self._sources = list(self._sources.values()), {}
        for source in sources:
            await source.close()

    async def __aenter__(self) -> TenantScopedEventSource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"TenantScopedEventSource(tenants={self.tenants!r})"

    def _outbox(self) -> Outbox:
        source = self.current()
        if not isinstance(source, Outbox) or not source.outbox_enabled:
            raise ConfigurationError("the current tenant's event source keeps no outbox")
        return source

    def _lifecycle(self) -> StreamLifecycle:
        source: Any = self.current()
        if not isinstance(source, StreamLifecycle):
            raise ConfigurationError(f"the current tenant's event source ({source!r}) cannot archive or delete")
        return source


def _log_failed_clear(task: asyncio.Task[bool]) -> None:
    """A background clear that failed leaves its entry for the relay; say so, so the failure is not lost."""
    if task.cancelled():
        _log.warning("a published outbox entry was not cleared before the source closed; the relay will publish it")
    elif (error := task.exception()) is not None:
        _log.warning("a published outbox entry could not be cleared; the relay will publish it again: %s", error)
