"""Background work per tenant: the operator's way to name tenants, since request code never can.

A `TenantScopedEventSource` serves whichever tenant the message context names, and refuses to work
without one. Work that belongs to no message (an outbox relay pass, a durable read model's catch-up,
a cache replication, a catch-up feed's host) is run for each tenant by `for_each_tenant`, inside
`message_context(tenant_id=...)` of that tenant, so the same scoped source, relay and projector code
serve every tenant in turn. The tenants come from a `TenantDirectory`, read again on every call, so a
tenant created since the last pass is included in the next one; `TenantTables`
(`messagehandler.eventsource.azure_tables.tenants`) lists the tables a `tenant_tables` prefix names.

One tenant's failure never stops the others: every tenant is run, then `TenantJobsError` names each
tenant that failed and carries the results of those that did not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, Protocol, TypeVar, runtime_checkable

from messagehandler.errors import ConfigurationError, MessageHandlerError, Remedy
from messagehandler.events.context import message_context

T = TypeVar("T")


@runtime_checkable
class TenantDirectory(Protocol):
    """Lists the tenants a store holds, for operator code; a list of ids is the simplest directory."""

    async def tenant_ids(self) -> list[str]: ...


class TenantJobsError(MessageHandlerError, Generic[T]):
    """A job failed for some tenants; it ran for every tenant, and `results` holds the others' results.

    `remedy` is to retry later when every failure may pass by itself, else to look at the named tenants.
    """

    def __init__(self, failures: dict[str, BaseException], results: dict[str, T]) -> None:
        self.failures = failures
        self.results = results
        named = "; ".join(f"tenant {tenant!r}: {type(error).__name__}: {error}" for tenant, error in failures.items())
        super().__init__(f"{len(failures)} of {len(failures) + len(results)} tenants failed: {named}")
        retryable = all(isinstance(e, MessageHandlerError) and e.retryable for e in failures.values())
        self.remedy = Remedy.RETRY_LATER if retryable else Remedy.INSPECT


async def tenant_ids_of(tenants: TenantDirectory | Iterable[str]) -> list[str]:
    """The tenant ids a directory lists now, or those of a list, in order and once each.

    Raises:
        ConfigurationError: an id is not a non-empty string.
    """
    ids = await tenants.tenant_ids() if isinstance(tenants, TenantDirectory) else list(tenants)
    for tenant in ids:
        if not isinstance(tenant, str) or not tenant:
            raise ConfigurationError(f"a tenant id is a non-empty string, got {tenant!r}")
    return list(dict.fromkeys(ids))


async def for_each_tenant(
    tenants: TenantDirectory | Iterable[str],
    job: Callable[[str], Awaitable[T]],
    *,
    concurrency: int = 1,
) -> dict[str, T]:
    """Run `job(tenant)` inside `message_context(tenant_id=tenant)` for every tenant; results by tenant.

    `concurrency` tenants run at a time (1: one after another). A long-running job (a relay's `run`,
    a host serving until stopped) runs for every tenant at once with `concurrency` at least the
    number of tenants.

    Raises:
        TenantJobsError: the job raised for some tenants, named with their errors; it still ran for
            all the others, whose results it carries.
        ConfigurationError: `concurrency` is below 1, or a tenant id is not a non-empty string.

    Example:
        >>> reports = await for_each_tenant(TenantTables.from_connection_string(conn, "Events"),
        ...                                 lambda tenant: OutboxRelay(source, dispatcher).run_once())
    """
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be an int of at least 1, got {concurrency!r}")
    ids = await tenant_ids_of(tenants)
    gate = asyncio.Semaphore(concurrency)
    results: dict[str, T] = {}
    failures: dict[str, BaseException] = {}

    async def run(tenant: str) -> None:
        async with gate:
            with message_context(tenant_id=tenant):
                try:
                    results[tenant] = await job(tenant)
                except Exception as error:
                    failures[tenant] = error

    await asyncio.gather(*(run(tenant) for tenant in ids))
    if failures:
        raise TenantJobsError(
            {t: failures[t] for t in ids if t in failures}, {t: results[t] for t in ids if t in results}
        )
    return {tenant: results[tenant] for tenant in ids}
