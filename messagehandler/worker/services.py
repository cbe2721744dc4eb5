"""What a worker runs: processing hosts on every worker, leased work (read models, the relay) on one.

Each service runs until the worker's stop event is set, then stops gracefully: a host finishes its
in-flight messages within its grace and releases the rest to the channel; leased work finishes its
current step and releases its lease. `ready` says the service is doing its job (a host receiving, an
election competing for its lease); `status()` is what the health endpoint shows of it.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from messagehandler.worker.election import Election, LeaseTerm
from messagehandler.worker.errors import WorkerError

if TYPE_CHECKING:
    from messagehandler.channels.relay import OutboxRelay
    from messagehandler.processing.host import ProcessingHost
    from messagehandler.projections.live import CheckpointedModel, LiveReadModel, Role
    from messagehandler.worker.context import WorkerContext

logger = logging.getLogger("messagehandler.worker")


class Service(ABC):
    """One thing a worker runs."""

    kind = "service"

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = False

    @abstractmethod
    async def run(self, context: WorkerContext, stop: asyncio.Event) -> None: ...

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "ready": self.ready}


class HostService(Service):
    """A processing host (standing queries over a channel), on every worker: they compete for messages."""

    kind = "host"

    def __init__(
        self, name: str, factory: Callable[[WorkerContext], Awaitable[ProcessingHost]], *, grace: timedelta
    ) -> None:
        super().__init__(name)
        self.factory = factory
        self.grace = grace
        self.host: ProcessingHost | None = None

    async def run(self, context: WorkerContext, stop: asyncio.Event) -> None:
        self.host = host = await self.factory(context)
        await host.start()
        self.ready = True
        logger.info("host %r: receiving from %s", self.name, host.source.name)
        await stop.wait()
        self.ready = False
        logger.info("host %r: stopping; %d messages in flight", self.name, host.in_flight)
        await host.stop(self.grace)
        logger.info("host %r: stopped (%s)", self.name, _stats(host))

    def status(self) -> dict[str, Any]:
        status = super().status()
        if self.host is not None:
            status.update(in_flight=self.host.in_flight, stats=asdict(self.host.stats))
        return status


class LeasedService(Service):
    """Work that must run on one worker at a time: an election for the lease `lease_name` on every worker."""

    kind = "leased"

    def __init__(self, name: str, lease_name: str, *, duration: timedelta, retry: timedelta | None) -> None:
        super().__init__(name)
        self.lease_name = lease_name
        self.duration = duration
        self.retry = retry
        self.election: Election | None = None

    @abstractmethod
    async def prepare(self, context: WorkerContext) -> None:
        """Build what the work needs, once per worker, before competing for the lease."""

    @abstractmethod
    async def work(self, term: LeaseTerm) -> None: ...

    async def run(self, context: WorkerContext, stop: asyncio.Event) -> None:
        await self.prepare(context)
        lease = context.leases.lease(self.lease_name, context.worker_id, self.duration)
        self.election = Election(lease, self.work, retry=self.retry)
        self.ready = True
        await self.election.run(stop)

    def status(self) -> dict[str, Any]:
        status = super().status()
        status.update(lease=self.lease_name, leader=bool(self.election and self.election.leader))
        status["terms"] = self.election.terms if self.election else 0
        return status


class RelayService(LeasedService):
    """The outbox relay, on the lease holder only: a pass every `interval`."""

    kind = "relay"

    def __init__(
        self,
        name: str,
        factory: Callable[[WorkerContext], Awaitable[OutboxRelay]],
        *,
        interval: timedelta,
        duration: timedelta,
        retry: timedelta | None,
    ) -> None:
        super().__init__(name, f"relay-{name}", duration=duration, retry=retry)
        self.factory = factory
        self.interval = interval
        self.relay: OutboxRelay | None = None
        self.published = 0

    async def prepare(self, context: WorkerContext) -> None:
        self.relay = await self.factory(context)

    async def work(self, term: LeaseTerm) -> None:
        assert self.relay is not None
        while not term.stopping.is_set():
            report = await self.relay.run_once()
            self.published += report.published
            if report.entries:
                logger.info(
                    "relay %r: %d entries, %d events published, %d failed",
                    self.name,
                    report.entries,
                    report.published,
                    report.failed,
                )
            if await term.pause(self.interval.total_seconds()):
                return

    def status(self) -> dict[str, Any]:
        return {**super().status(), "published": self.published}


class CustomLeasedService(LeasedService):
    """Any work of the application's own that must run on one worker at a time."""

    def __init__(
        self,
        name: str,
        factory: Callable[[WorkerContext], Awaitable[Callable[[LeaseTerm], Awaitable[None]]]],
        *,
        duration: timedelta,
        retry: timedelta | None,
    ) -> None:
        super().__init__(name, name, duration=duration, retry=retry)
        self.factory = factory
        self._work: Callable[[LeaseTerm], Awaitable[None]] | None = None

    async def prepare(self, context: WorkerContext) -> None:
        self._work = await self.factory(context)
        if not callable(self._work):
            raise WorkerError(f"leased service {self.name!r}: its factory must return an async callable of a term")

    async def work(self, term: LeaseTerm) -> None:
        assert self._work is not None
        await self._work(term)


def _stats(host: ProcessingHost) -> str:
    return ", ".join(f"{key} {value}" for key, value in asdict(host.stats).items())


class ReadModelService(LeasedService):
    """A durable read model kept caught up with the store by the lease holder, checkpointed after each step.

    With a `LiveReadModel` the records also go to its index, and a version that is not live yet is built
    beside the live one and switched in once caught up (see `messagehandler.projections.live`). Each term
    opens the model from its last checkpoint, so a new holder continues where the last one saved.
    """

    kind = "read model"

    def __init__(
        self,
        name: str,
        factory: Callable[[WorkerContext], Awaitable[CheckpointedModel[Any] | LiveReadModel[Any]]],
        *,
        interval: timedelta,
        duration: timedelta,
        retry: timedelta | None,
    ) -> None:
        super().__init__(name, f"readmodel-{name}", duration=duration, retry=retry)
        self.factory = factory
        self.interval = interval
        self.live: LiveReadModel[Any] | None = None
        self.model: CheckpointedModel[Any] | None = None
        self.role: Role | None = None

    async def prepare(self, context: WorkerContext) -> None:
        from messagehandler.projections.live import LiveReadModel

        built = await self.factory(context)
        if isinstance(built, LiveReadModel):
            self.live, self.model = built, built.model
            self.lease_name = f"readmodel-{self.name}-{built.version}"
        else:
            self.model = built

    async def work(self, term: LeaseTerm) -> None:
        if self.live is not None:
            await self._live(term, self.live)
            return
        model = self.model
        assert model is not None
        await model.open()
        while True:
            term.check()
            await model.save()
            if await term.pause(self.interval.total_seconds()):
                return
            await model.catch_up()

    async def _live(self, term: LeaseTerm, live: LiveReadModel[Any]) -> None:
        from messagehandler.projections.errors import RetiredVersionError
        from messagehandler.projections.live import Role

        self.role = await live.role()
        if self.role is Role.RETIRED:
            logger.warning("read model %r: version %s was replaced; this worker runs old code", self.name, live.version)
            await term.stopping.wait()
            return
        opened = await live.open(check=term.check)
        logger.info(
            "read model %r: version %s opened (%s), %s", self.name, live.version, opened.start.value, self.role.value
        )
        changed = opened.changed
        while True:
            term.check()
            await live.save(building=self.role is Role.BUILD)
            if self.role is Role.BUILD and not changed:
                try:
                    await live.switch()
                except RetiredVersionError:
                    self.role = Role.RETIRED
                    logger.warning("read model %r: version %s was replaced while built", self.name, live.version)
                    await term.stopping.wait()
                    return
                self.role = Role.LIVE
            if await term.pause(self.interval.total_seconds() if self.role is Role.LIVE else 0):
                return
            if self.role is Role.LIVE and await live.role() is Role.RETIRED:
                self.role = Role.RETIRED
                logger.warning("read model %r: version %s was replaced; stopping it", self.name, live.version)
                await term.stopping.wait()
                return
            changed = await live.step(check=term.check)

    def status(self) -> dict[str, Any]:
        status = super().status()
        if self.model is not None:
            versions = self.model.position.versions
            status.update(version=self.model.version[:12], streams=len(versions), events=sum(versions.values()))
        if self.role is not None:
            status["role"] = self.role.value
        return status
