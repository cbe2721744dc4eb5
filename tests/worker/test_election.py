"""The election's rules, in one process on a MemoryLeaseStore with short leases, and blob leases on Azurite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from messagehandler.errors import ConfigurationError, ServiceUnavailableError
from messagehandler.worker import BlobLeaseStore, Election, LeaseLostError, LeaseTerm, MemoryLeaseStore
from tests.processing.fakes import eventually as until

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

SHORT = timedelta(milliseconds=300)


async def test_one_of_two_workers_runs_the_work_and_the_other_takes_over_when_it_stops() -> None:
    store = MemoryLeaseStore()
    running: list[str] = []

    def work_of(name: str) -> object:
        async def work(term: LeaseTerm) -> None:
            running.append(name)
            try:
                await term.stopping.wait()
            finally:
                running.remove(name)

        return work

    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = Election(store.lease("relay", "a", SHORT), work_of("a"), retry=timedelta(milliseconds=20))  # type: ignore[arg-type]
    second = Election(store.lease("relay", "b", SHORT), work_of("b"), retry=timedelta(milliseconds=20))  # type: ignore[arg-type]
    tasks = [asyncio.ensure_future(first.run(first_stop))]
    await until(lambda: running == ["a"])
    tasks.append(asyncio.ensure_future(second.run(second_stop)))
    await asyncio.sleep(SHORT.total_seconds() * 2)  # several renewals: the holder keeps it
    assert running == ["a"]
    assert await store.holder("relay") == "a"

    first_stop.set()
    await until(lambda: running == ["b"], within=1.0)  # released at once: no wait for the lease to run out
    assert (first.terms, second.terms) == (1, 1)
    second_stop.set()
    await asyncio.gather(*tasks)
    assert await store.holder("relay") is None


async def test_work_is_cancelled_at_once_when_the_lease_cannot_be_renewed() -> None:
    store = MemoryLeaseStore()
    cancelled = asyncio.Event()

    async def work(term: LeaseTerm) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    election = Election(store.lease("model", "a", SHORT), work, retry=timedelta(seconds=10))
    stop = asyncio.Event()
    task = asyncio.ensure_future(election.run(stop))
    await until(lambda: election.leader)
    store._leases["model"].token = "someone else"  # another worker was granted it

    await asyncio.wait_for(cancelled.wait(), 2.0)
    assert not election.leader
    stop.set()
    await task


async def test_check_refuses_once_the_lease_is_no_longer_surely_held() -> None:
    store = MemoryLeaseStore()
    lease = store.lease("model", "a", SHORT)
    assert await lease.acquire()
    term = LeaseTerm(lease, safety=0.1)
    term.check()

    await asyncio.sleep(0.25)

    with pytest.raises(LeaseLostError, match="lease 'model' lost"):
        term.check()


async def test_a_retryable_failure_of_the_work_releases_and_competes_again_and_others_are_raised() -> None:
    store = MemoryLeaseStore()
    attempts: list[int] = []

    async def flaky(term: LeaseTerm) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise ServiceUnavailableError("the store is down")
        raise ConfigurationError("the table name is wrong")

    election = Election(store.lease("model", "a", SHORT), flaky, retry=timedelta(milliseconds=10))

    with pytest.raises(ConfigurationError):
        await election.run(asyncio.Event())
    assert len(attempts) == 3
    assert await store.holder("model") is None


@pytest.fixture
async def blob_leases(azurite: AzuriteProcess) -> AsyncIterator[BlobLeaseStore]:
    container = f"leases-{uuid.uuid4().hex[:12]}"
    async with BlobLeaseStore.from_connection_string(azurite.connection_string, container) as store:
        yield store
        await store.container.delete_container()


@pytest.mark.azurite
async def test_blob_leases_are_granted_once_renewed_released_and_say_who_holds_them(
    blob_leases: BlobLeaseStore,
) -> None:
    first = blob_leases.lease("relay", "worker-a", timedelta(seconds=15))
    second = blob_leases.lease("relay", "worker-b", timedelta(seconds=15))
    assert await blob_leases.holder("relay") is None

    assert await first.acquire()
    assert not await second.acquire()
    assert await blob_leases.holder("relay") == "worker-a"
    assert 14 < first.valid_for() <= 15
    await first.renew()
    assert second.valid_for() == 0

    await first.release()
    assert await blob_leases.holder("relay") is None
    assert await second.acquire()
    assert await blob_leases.holder("relay") == "worker-b"


@pytest.mark.azurite
async def test_a_blob_lease_broken_by_another_client_is_lost_on_renewal(blob_leases: BlobLeaseStore) -> None:
    lease = blob_leases.lease("model", "worker-a", timedelta(seconds=15))
    assert await lease.acquire()
    from azure.storage.blob.aio import BlobLeaseClient

    await BlobLeaseClient(blob_leases.container.get_blob_client("model")).break_lease(lease_break_period=0)
    taker = blob_leases.lease("model", "worker-b", timedelta(seconds=15))
    assert await taker.acquire()

    with pytest.raises(LeaseLostError, match="another worker holds it"):
        await lease.renew()
    assert lease.valid_for() == 0


def test_blob_leases_last_15_to_60_seconds_and_a_bad_connection_string_names_no_secret() -> None:
    store = BlobLeaseStore.from_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:1/a"
    )
    with pytest.raises(ConfigurationError, match="15 to 60 seconds"):
        store.lease("x", "w", timedelta(seconds=5))
    with pytest.raises(ConfigurationError) as caught:
        BlobLeaseStore.from_connection_string("AccountKey=c2VjcmV0;nonsense")
    assert "c2VjcmV0" not in str(caught.value)


class FlakyLease:
    """A lease whose service fails on demand: `failures` says how many calls of each kind fail first."""

    def __init__(self, inner: object, failures: dict[str, int]) -> None:
        self.inner = inner
        self.failures = failures
        self.name = "flaky"

    @property
    def duration(self) -> timedelta:
        return self.inner.duration  # type: ignore[attr-defined, no-any-return]

    def valid_for(self) -> float:
        return self.inner.valid_for()  # type: ignore[attr-defined, no-any-return]

    async def _call(self, kind: str) -> object:
        if self.failures.get(kind, 0) > 0:
            self.failures[kind] -= 1
            raise ServiceUnavailableError(f"{kind} failed")
        return await getattr(self.inner, kind)()

    async def acquire(self) -> bool:
        return bool(await self._call("acquire"))

    async def renew(self) -> None:
        await self._call("renew")

    async def release(self) -> None:
        await self._call("release")


async def test_unavailable_lease_service_is_retried_for_acquire_renew_and_release(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryLeaseStore()
    lease = FlakyLease(store.lease("model", "a", timedelta(seconds=1)), {"acquire": 1, "renew": 1, "release": 1})
    renewed = asyncio.Event()

    async def work(term: LeaseTerm) -> None:
        await until(lambda: lease.failures["renew"] == 0, within=3)
        await asyncio.sleep(0.5)  # past the retried renewal
        renewed.set()
        await term.stopping.wait()

    stop = asyncio.Event()
    election = Election(lease, work, retry=timedelta(milliseconds=10))  # type: ignore[arg-type]
    task = asyncio.ensure_future(election.run(stop))
    await asyncio.wait_for(renewed.wait(), 5)
    assert election.leader
    stop.set()
    await task

    assert "could not try to acquire it: acquire failed" in caplog.text
    assert "renewing failed, trying again: renew failed" in caplog.text
    assert "could not release it; it runs out by itself" in caplog.text
