"""Leases: how workers agree that exactly one of them runs a piece of work at a time.

A lease is held for `duration` from the moment the service granted or renewed it, and must be
renewed before that runs out. The holder counts the time from just before it sent the request, so
its own idea of "still held" never outlasts the service's: when `valid_for()` reaches zero the holder
must already have stopped, because another worker may be granted the lease from then on.

`BlobLeaseStore` keeps one blob per lease in a container (Azure's blob leases: 15 to 60 seconds,
granted to one lease id at a time); `MemoryLeaseStore` keeps them in a dict, for one process and
for tests. Both record the holder's name, so operators can see who runs what.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from messagehandler.azure_errors import azure_errors, error_code, error_status
from messagehandler.errors import ConfigurationError
from messagehandler.extras import requires_extra
from messagehandler.redaction import credential_secrets
from messagehandler.worker.errors import LeaseLostError

if TYPE_CHECKING:
    from azure.storage.blob.aio import BlobLeaseClient, ContainerClient

BLOB_MIN = timedelta(seconds=15)
BLOB_MAX = timedelta(seconds=60)
_TAKEN = frozenset(
    {"LeaseAlreadyPresent", "LeaseIdMismatchWithLeaseOperation", "LeaseLost", "LeaseNotPresentWithLeaseOperation"}
)


class Lease(Protocol):
    """One named lease as seen by one would-be holder."""

    @property
    def name(self) -> str: ...

    @property
    def duration(self) -> timedelta: ...

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; True when this holder has it now."""
        ...

    async def renew(self) -> None:
        """Extend the lease by `duration`; `LeaseLostError` when another holder has it now."""
        ...

    async def release(self) -> None:
        """Give the lease up at once, so another worker need not wait for it to run out."""
        ...

    def valid_for(self) -> float:
        """Seconds the lease is surely still held (0 when not held)."""
        ...


class LeaseStore(Protocol):
    """Where leases live; one store serves every worker of an application."""

    def lease(self, name: str, holder: str, duration: timedelta) -> Lease: ...

    async def holder(self, name: str) -> str | None:
        """Who holds the lease now, None when nobody does."""
        ...

    async def close(self) -> None: ...


class _Clock:
    """The holder's view of its lease: confirmed at a monotonic time, for a duration."""

    def __init__(self, duration: timedelta) -> None:
        self.duration = duration
        self.confirmed_at: float | None = None

    def valid_for(self) -> float:
        if self.confirmed_at is None:
            return 0.0
        return max(0.0, self.duration.total_seconds() - (time.monotonic() - self.confirmed_at))


@dataclass
class _Held:
    holder: str
    token: str
    expires: float


@dataclass
class MemoryLeaseStore:
    """Leases in a dict: every worker of one process shares them; for tests and single-process runs."""

    clock: Callable[[], float] = time.monotonic
    _leases: dict[str, _Held] = field(default_factory=dict)

    def lease(self, name: str, holder: str, duration: timedelta) -> Lease:
        return _MemoryLease(self, name, holder, duration)

    async def holder(self, name: str) -> str | None:
        held = self._leases.get(name)
        return held.holder if held is not None and held.expires > self.clock() else None

    async def close(self) -> None:
        return None


class _MemoryLease:
    def __init__(self, store: MemoryLeaseStore, name: str, holder: str, duration: timedelta) -> None:
        self._store = store
        self._name = name
        self._holder = holder
        self._clock = _Clock(duration)
        self._token = uuid.uuid4().hex

    @property
    def name(self) -> str:
        return self._name

    @property
    def duration(self) -> timedelta:
        return self._clock.duration

    async def acquire(self) -> bool:
        now = self._store.clock()
        held = self._store._leases.get(self._name)
        if held is not None and held.expires > now and held.token != self._token:
            return False
        self._store._leases[self._name] = _Held(self._holder, self._token, now + self.duration.total_seconds())
        self._clock.confirmed_at = time.monotonic()
        return True

    async def renew(self) -> None:
        started = time.monotonic()
        now = self._store.clock()
        held = self._store._leases.get(self._name)
        if held is None or held.token != self._token or held.expires <= now:
            self._clock.confirmed_at = None
            raise LeaseLostError(self._name, "it ran out before it was renewed")
        held.expires = now + self.duration.total_seconds()
        self._clock.confirmed_at = started

    async def release(self) -> None:
        held = self._store._leases.get(self._name)
        if held is not None and held.token == self._token:
            del self._store._leases[self._name]
        self._clock.confirmed_at = None

    def valid_for(self) -> float:
        return self._clock.valid_for()


class BlobLeaseStore:
    """Leases on blobs of one container (created when missing), one empty blob per lease name.

    Needs the `worker` extra (`azure-storage-blob`). A lease lasts 15 to 60 seconds, Azure's bounds;
    the holder's name is kept in the blob's metadata while it holds it.
    """

    def __init__(self, container: ContainerClient, *, secrets: tuple[object, ...] = ()) -> None:
        self.container = container
        self._secret_sources = secrets
        self._ready = False
        self._service = f"blob container {container.container_name!r}"

    @classmethod
    def from_connection_string(cls, connection_string: str, container: str = "leases") -> BlobLeaseStore:
        """Raises: ConfigurationError: the connection string cannot be used (the message holds no secret)."""
        with requires_extra("worker", "blob leases", ("azure.storage.blob",)):
            from azure.storage.blob.aio import ContainerClient
        try:
            client = ContainerClient.from_connection_string(connection_string, container)
        except ValueError:
            raise ConfigurationError("the lease store's connection string cannot be used (check its format)") from None
        return cls(client, secrets=(connection_string,))

    @property
    def _secrets(self) -> list[str]:
        return [value for source in self._secret_sources for value in credential_secrets(source)]

    def errors(self, action: str) -> contextlib.AbstractContextManager[None]:
        return azure_errors(self._service, action=action, secrets=self._secrets)

    async def ready(self) -> None:
        if not self._ready:
            from azure.core.exceptions import ResourceExistsError

            with self.errors("create the container"), contextlib.suppress(ResourceExistsError):
                await self.container.create_container()
            self._ready = True

    def lease(self, name: str, holder: str, duration: timedelta) -> Lease:
        if not BLOB_MIN <= duration <= BLOB_MAX:
            raise ConfigurationError(f"lease {name!r}: a blob lease lasts 15 to 60 seconds, not {duration}")
        return _BlobLease(self, name, holder, duration)

    async def holder(self, name: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        await self.ready()
        with self.errors(f"read lease {name!r}"):
            try:
                properties = await self.container.get_blob_client(name).get_blob_properties()
            except ResourceNotFoundError:
                return None
        if properties.lease.state != "leased":
            return None
        return str(properties.metadata.get("holder", "?"))

    async def close(self) -> None:
        await self.container.close()

    async def __aenter__(self) -> BlobLeaseStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class _BlobLease:
    def __init__(self, store: BlobLeaseStore, name: str, holder: str, duration: timedelta) -> None:
        self._store = store
        self._name = name
        self._holder = holder
        self._clock = _Clock(duration)
        self._blob = store.container.get_blob_client(name)
        self._lease: BlobLeaseClient | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def duration(self) -> timedelta:
        return self._clock.duration

    async def acquire(self) -> bool:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        await self._store.ready()
        with self._store.errors(f"create lease blob {self._name!r}"), contextlib.suppress(ResourceExistsError):
            await self._blob.upload_blob(b"", overwrite=False)
        started = time.monotonic()
        with self._store.errors(f"acquire lease {self._name!r}"):
            try:
                lease = await self._blob.acquire_lease(lease_duration=int(self.duration.total_seconds()))
            except HttpResponseError as error:
                if _taken(error):
                    return False
                raise
            self._lease = lease
            self._clock.confirmed_at = started
            await self._blob.set_blob_metadata({"holder": self._holder}, lease=lease)
        return True

    async def renew(self) -> None:
        from azure.core.exceptions import HttpResponseError

        lease = self._lease
        if lease is None:
            raise LeaseLostError(self._name, "it is not held")
        started = time.monotonic()
        with self._store.errors(f"renew lease {self._name!r}"):
            try:
                await lease.renew()
            except HttpResponseError as error:
                if _taken(error):
                    self._lease, self._clock.confirmed_at = None, None
                    raise LeaseLostError(self._name, f"another worker holds it ({error_code(error)})") from None
                raise
        self._clock.confirmed_at = started

    async def release(self) -> None:
        lease, self._lease = self._lease, None
        self._clock.confirmed_at = None
        if lease is not None:
            with self._store.errors(f"release lease {self._name!r}"):
                await _release(lease)

    def valid_for(self) -> float:
        return self._clock.valid_for()


async def _release(lease: Any) -> None:
    from azure.core.exceptions import HttpResponseError

    try:
        await lease.release()
    except HttpResponseError as error:
        if not _taken(error):
            raise


def _taken(error: BaseException) -> bool:
    """The service says someone else holds the lease (409 with a lease code)."""
    return error_status(error) in (409, 412) and (error_code(error) or "") in _TAKEN
