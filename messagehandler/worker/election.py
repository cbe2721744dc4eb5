"""Leader election on a lease: run a piece of work only while holding its lease, on one worker at a time.

Every worker runs an `Election` for the same lease name. The one that acquires the lease runs the
work in a term and renews the lease every third of its duration; the others try again every
`retry` seconds. When a renewal is refused (another worker holds it) or cannot be confirmed before
the lease would run out, the work is cancelled at once: from that moment another worker may hold
it. Work that writes (a checkpoint) calls `term.check()` first, which refuses once less than
`safety` seconds of the lease are surely left. A worker that stops gracefully lets the work finish,
then releases the lease, so another takes over without waiting for it to run out; one that dies is
replaced within the lease's duration plus `retry`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from messagehandler.errors import MessageHandlerError
from messagehandler.worker.errors import LeaseLostError
from messagehandler.worker.leases import Lease

logger = logging.getLogger("messagehandler.worker")


@dataclass
class LeaseTerm:
    """One uninterrupted holding of a lease, as the work sees it."""

    lease: Lease
    safety: float
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        """Raise `LeaseLostError` unless the lease is surely held for `safety` seconds more."""
        if self.lease.valid_for() <= self.safety:
            raise LeaseLostError(self.lease.name, "it could not be renewed in time")

    async def pause(self, seconds: float) -> bool:
        """Wait `seconds`, or less when the term is asked to stop; True when it is."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
        return self.stopping.is_set()


LeasedWork = Callable[[LeaseTerm], Awaitable[None]]


class Election:
    """Runs `work` on whichever worker holds `lease`; see the module docstring for the rules."""

    def __init__(
        self,
        lease: Lease,
        work: LeasedWork,
        *,
        retry: timedelta | None = None,
        grace: timedelta = timedelta(seconds=20),
    ) -> None:
        self.lease = lease
        self.work = work
        duration = lease.duration.total_seconds()
        self.retry = retry.total_seconds() if retry is not None else duration / 3
        self.renew_every = duration / 3
        self.safety = duration / 5
        self.grace = grace.total_seconds()
        self.terms = 0
        self.leader = False

    async def run(self, stop: asyncio.Event) -> None:
        """Compete for the lease until `stop` is set; a non-retryable failure of the work is raised."""
        while not stop.is_set():
            try:
                held = await self.lease.acquire()
            except MessageHandlerError as error:
                if not error.retryable:
                    raise
                logger.warning("lease %r: could not try to acquire it: %s", self.lease.name, error)
                held = False
            if not held:
                await _pause(stop, self.retry)
                continue
            self.terms += 1
            self.leader = True
            logger.info("lease %r: acquired; running its work (term %d)", self.lease.name, self.terms)
            try:
                await self._term(stop)
            finally:
                self.leader = False

    async def _term(self, stop: asyncio.Event) -> None:
        term = LeaseTerm(self.lease, self.safety)
        work = asyncio.ensure_future(self.work(term))
        renewals = asyncio.ensure_future(self._renew())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({work, renewals, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stopped.done() and not work.done():
                term.stopping.set()
                await asyncio.wait({work, renewals}, timeout=self.grace, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, renewals, stopped):
                task.cancel()
            await asyncio.gather(work, renewals, stopped, return_exceptions=True)
        if renewals.done() and not renewals.cancelled() and renewals.exception() is not None:
            logger.warning("%s; its work stopped", renewals.exception())
            return  # the lease is gone: nothing to release
        await self._release()
        if work.done() and not work.cancelled() and (error := work.exception()) is not None:
            if isinstance(error, LeaseLostError) or (isinstance(error, MessageHandlerError) and error.retryable):
                logger.warning("lease %r: its work failed and will be retried: %s", self.lease.name, error)
                await _pause(stop, self.retry)
                return
            raise error

    async def _renew(self) -> None:
        """Renew every third of the duration; raise LeaseLostError when that cannot be done in time."""
        while True:
            await asyncio.sleep(self.renew_every)
            while True:
                try:
                    await self.lease.renew()
                    break
                except LeaseLostError:
                    raise
                except MessageHandlerError as error:
                    if not error.retryable or self.lease.valid_for() <= self.safety:
                        raise LeaseLostError(self.lease.name, f"renewing failed: {error}") from error
                    logger.warning("lease %r: renewing failed, trying again: %s", self.lease.name, error)
                    await asyncio.sleep(min(1.0, self.renew_every))

    async def _release(self) -> None:
        try:
            await self.lease.release()
        except MessageHandlerError as error:
            logger.warning("lease %r: could not release it; it runs out by itself: %s", self.lease.name, error)
        else:
            logger.info("lease %r: released", self.lease.name)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
