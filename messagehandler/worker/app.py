"""`WorkerApp`: what an application declares, in one module, for `messagehandler run module:app` to host.

The declarations are factories, called inside the worker's event loop, so every SDK client is built
on the loop that uses it and closed by the worker at shutdown (register it with `context.enter`):

    app = WorkerApp("billing", leases=lambda context: BlobLeaseStore.from_connection_string(conn))

    @app.host
    async def invoices(context: WorkerContext) -> ProcessingHost: ...      # on every worker

    @app.read_model(interval=timedelta(seconds=2))
    async def search(context: WorkerContext) -> LiveReadModel[Entry]: ...  # on the lease holder

    @app.relay
    async def relay(context: WorkerContext) -> OutboxRelay: ...             # on the lease holder
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar, overload

from messagehandler.errors import ConfigurationError
from messagehandler.worker.context import WorkerContext
from messagehandler.worker.leases import LeaseStore, MemoryLeaseStore
from messagehandler.worker.services import (
    CustomLeasedService,
    HostService,
    ReadModelService,
    RelayService,
    Service,
)

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
T = TypeVar("T")

DEFAULT_LEASE = timedelta(seconds=30)
DEFAULT_GRACE = timedelta(seconds=20)
"""Under the 30 s that Kubernetes and Azure Container Apps wait between SIGTERM and SIGKILL by default."""


class WorkerApp:
    """The processing an application runs as a service; see the module docstring.

    `leases` builds the lease store the leased services use (a `BlobLeaseStore` in production); without
    it they use a `MemoryLeaseStore`, which only keeps one process's services apart. `lease_duration`
    is how long a dead worker's leased work waits before another worker takes it (15 to 60 s on blobs).
    """

    def __init__(
        self,
        name: str,
        *,
        leases: Callable[[WorkerContext], LeaseStore | Awaitable[LeaseStore]] | None = None,
        lease_duration: timedelta = DEFAULT_LEASE,
        lease_retry: timedelta | None = None,
    ) -> None:
        self.name = name
        self.leases = leases
        self.lease_duration = lease_duration
        self.lease_retry = lease_retry
        self.services: list[Service] = []

    def _add(self, service: Service) -> None:
        if any(existing.name == service.name for existing in self.services):
            raise ConfigurationError(f"app {self.name!r} declares two services named {service.name!r}")
        self.services.append(service)

    @overload
    def host(self, factory: F, /) -> F: ...

    @overload
    def host(
        self, factory: None = None, /, *, name: str | None = None, grace: timedelta = DEFAULT_GRACE
    ) -> Callable[[F], F]: ...

    def host(
        self, factory: F | None = None, /, *, name: str | None = None, grace: timedelta = DEFAULT_GRACE
    ) -> F | Callable[[F], F]:
        """Declare a processing host (factory returns a `ProcessingHost`); every worker runs one."""

        def declare(factory: F) -> F:
            self._add(HostService(name or factory.__name__, factory, grace=grace))
            return factory

        return declare(factory) if factory is not None else declare

    @overload
    def read_model(self, factory: F, /) -> F: ...

    @overload
    def read_model(
        self, factory: None = None, /, *, name: str | None = None, interval: timedelta = timedelta(seconds=5)
    ) -> Callable[[F], F]: ...

    def read_model(
        self, factory: F | None = None, /, *, name: str | None = None, interval: timedelta = timedelta(seconds=5)
    ) -> F | Callable[[F], F]:
        """Declare a durable read model (factory returns a `DurableReadModel` or a `LiveReadModel`).

        One worker at a time keeps it caught up, every `interval`, under a lease.
        """

        def declare(factory: F) -> F:
            self._add(
                ReadModelService(
                    name or factory.__name__,
                    factory,
                    interval=interval,
                    duration=self.lease_duration,
                    retry=self.lease_retry,
                )
            )
            return factory

        return declare(factory) if factory is not None else declare

    @overload
    def relay(self, factory: F, /) -> F: ...

    @overload
    def relay(
        self, factory: None = None, /, *, name: str | None = None, interval: timedelta = timedelta(seconds=5)
    ) -> Callable[[F], F]: ...

    def relay(
        self, factory: F | None = None, /, *, name: str | None = None, interval: timedelta = timedelta(seconds=5)
    ) -> F | Callable[[F], F]:
        """Declare an outbox relay (factory returns an `OutboxRelay`); one worker at a time runs it."""

        def declare(factory: F) -> F:
            self._add(
                RelayService(
                    name or factory.__name__,
                    factory,
                    interval=interval,
                    duration=self.lease_duration,
                    retry=self.lease_retry,
                )
            )
            return factory

        return declare(factory) if factory is not None else declare

    def leased(self, factory: F, /) -> F:
        """Declare work of your own that runs on one worker at a time: the factory returns `async def work(term)`."""
        self._add(CustomLeasedService(factory.__name__, factory, duration=self.lease_duration, retry=self.lease_retry))
        return factory

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        known = ", ".join(service.name for service in self.services) or "none"
        raise ConfigurationError(f"app {self.name!r} declares no service {name!r} (declared: {known})")

    async def open_context(self, worker_id: str) -> WorkerContext:
        """The context a worker hands the factories, with the lease store the app declares (closed with it)."""
        context = WorkerContext(self.name, worker_id, MemoryLeaseStore())
        if self.leases is not None:
            built = self.leases(context)
            store: LeaseStore = await built if inspect.isawaitable(built) else built
            context.leases = store
            context.on_close(store.close)
        return context
