"""The processing host: pulls from one source, feeds the standing queries, runs actions, settles.

The hot path is synchronous and batched: a received batch is decoded and pushed through every
query's subject in one pass, the outcomes it yields are handed to the action workers as one unit,
and settlements are performed by one settler task. No task is created per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from types import TracebackType
from typing import Any, TypeVar, cast

from reactivex import abc
from reactivex.scheduler.eventloop import AsyncIOScheduler

from messagehandler.channels.protocol import ChannelKind, ReceivedMessage
from messagehandler.events.context import current_message_context, enter_derived_context, leave_context
from messagehandler.events.event import Event
from messagehandler.events.personal import SEALED_MARK
from messagehandler.events.preparing import read_preparer
from messagehandler.events.serialization import EventSerializer, many_deserializer
from messagehandler.processing.actions import Action
from messagehandler.processing.completion import Outcome, Settlement, completion_for
from messagehandler.processing.context import ActionableContext, ProcessingContext, handled_context
from messagehandler.processing.errors import ProcessingError
from messagehandler.processing.ledger import Ledger
from messagehandler.processing.runs import QueryRun
from messagehandler.processing.sources import Source
from messagehandler.processing.standing_query import StandingQuery
from messagehandler.telemetry.logs import log_fields
from messagehandler.telemetry.messaging import acting, dead_lettered, record_receive

T = TypeVar("T")
logger = logging.getLogger("messagehandler.processing")

_Work = list[tuple[QueryRun, ActionableContext[Any]]]


@dataclass(slots=True)
class HostStats:
    received: int = 0
    completed: int = 0
    abandoned: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    actions: int = 0
    failed_actions: int = 0


class ProcessingHost:
    """Runs standing queries over one source until stopped.

    At most `max_in_flight` received messages are unsettled at a time (backpressure: the host does
    not receive more until some are settled). `action_concurrency` workers run actions at once, but
    the outcomes of one stream (the subject of an outcome's first source message) run one at a time
    and in receive order, as a read-modify-write action such as the real-time projection needs: a
    worker that takes a stream keeps it until its queued outcomes are done. One worker (the default
    for streaming sources) runs every action in receive order.
    """

    def __init__(
        self,
        source: Source,
        serializer: EventSerializer,
        *,
        max_in_flight: int = 1024,
        max_attempts: int = 5,
        action_concurrency: int | None = None,
        scheduler: abc.SchedulerBase | None = None,
    ) -> None:
        if max_in_flight < 1 or max_attempts < 1:
            raise ProcessingError("max_in_flight and max_attempts must be at least 1")
        self.source = source
        self.serializer = serializer
        self.max_in_flight = max_in_flight
        self._stats = HostStats()
        streaming = source.kind is ChannelKind.STREAMING
        self.action_concurrency = action_concurrency or (1 if streaming else 8)
        self._scheduler = scheduler
        self._runs: list[QueryRun] = []
        completion = completion_for(source.kind, max_attempts=max_attempts)
        self._ledger = Ledger(source.name, source.kind, completion, self._wake_settler)
        self._pending_work: _Work = []
        self._feeding = False
        self._submit_scheduled = False
        self._in_flight = 0
        self._resume_at = max(1, min(source.batch_size, max_in_flight // 2))
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._pull_task: asyncio.Task[None] | None = None
        self._work: asyncio.Queue[_Work | str | None] = asyncio.Queue()
        self._streams: dict[str, deque[tuple[QueryRun, ActionableContext[Any]]]] = {}
        self._settle_wanted = asyncio.Event()
        self._capacity = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy_workers = 0

    def add(self, query: StandingQuery[T], action: Action[T]) -> ProcessingHost:
        if self._tasks:
            raise ProcessingError("add standing queries before the host starts")
        self._runs.append(QueryRun(query, action, self._emitted, self._current))
        return self

    @property
    def stats(self) -> HostStats:
        """Counters since start; `dropped` counts messages of a volatile channel that left the host."""
        self._stats.dropped = self._ledger.dropped
        return self._stats

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def start(self) -> None:
        if self._tasks:
            raise ProcessingError("the host is already running")
        loop = asyncio.get_running_loop()
        scheduler = self._scheduler if self._scheduler is not None else AsyncIOScheduler(loop)
        for run in self._runs:
            run.start(scheduler)
        self._tasks = [loop.create_task(self._settler(), name="processing-settler")]
        self._tasks += [
            loop.create_task(self._worker(), name=f"processing-actions-{n}") for n in range(self.action_concurrency)
        ]
        self._pull_task = loop.create_task(self._pull(), name="processing-pull")

    async def __aenter__(self) -> ProcessingHost:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def stop(self, grace: timedelta = timedelta(seconds=30)) -> None:
        """Stop receiving, finish what is in flight within `grace`, then release the rest to the channel.

        Completing the queries' inputs flushes their open windows, so buffered messages are acted on
        rather than dropped; whatever is still unsettled at the deadline is abandoned (transactional,
        streaming) so the channel redelivers it.
        """
        if not self._tasks:
            return
        deadline = time.monotonic() + grace.total_seconds()
        self._stopping = True
        self._capacity.set()  # the puller may wait for room; let it see the stop
        if self._pull_task is not None:
            (outcome,) = await asyncio.gather(self._pull_task, return_exceptions=True)
            if isinstance(outcome, Exception):
                logger.error("receiving from %s had stopped with an error", self.source.name, exc_info=outcome)
        for run in self._runs:
            run.complete()
        self._submit_pending()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - time.monotonic()))
        workers = self._tasks[1:]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if self._ledger.open_total:
            logger.warning("releasing %d messages still in flight at shutdown", self._ledger.open_total)
            self._ledger.release_open()
        await self._settle_now()
        self._tasks[0].cancel()
        await asyncio.gather(self._tasks[0], return_exceptions=True)
        for run in self._runs:
            run.dispose()
        self._tasks = []
        await self.source.receiver.close()

    async def _pull(self) -> None:
        backoff = 0.05
        receiver = self.source.receiver
        while not self._stopping:
            free = self.max_in_flight - self._in_flight
            if free < self._resume_at:
                self._capacity.clear()
                await self._capacity.wait()
                continue
            started = time.time_ns()
            try:
                batch = await receiver.receive(min(self.source.batch_size, free), wait=self.source.wait)
            except Exception:
                logger.exception("receiving from %s failed; retrying in %.2fs", self.source.name, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if batch and not await self._keys_ready(batch):
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.05
            if batch:
                record_receive(receiver, batch, started)
                self._feed(batch)

    async def _keys_ready(self, batch: Sequence[ReceivedMessage]) -> bool:
        """Fetch the keys of sealed personal data before the sync decode; on failure the batch is abandoned."""
        prepare = read_preparer(self.serializer)
        if prepare is None:
            return True
        sealed = [
            m.envelope for m in batch if m.envelope.encryption_key_id is not None or SEALED_MARK in m.envelope.data
        ]
        try:
            await prepare([(envelope.metadata(), envelope.data) for envelope in sealed])
        except Exception:
            logger.exception(
                "keys for %d messages from %s could not be fetched; they go back", len(sealed), self.source.name
            )
            await asyncio.gather(*(m.abandon() for m in batch), return_exceptions=True)
            return False
        return True

    def _feed(self, batch: Sequence[ReceivedMessage]) -> None:
        ledger = self._ledger
        contexts, some_failed = self._decode_all(batch)
        ledger.completion.begin(contexts)
        ledger.opened(contexts)
        self._in_flight += len(contexts)
        self._stats.received += len(contexts)
        self._idle.clear()
        runs = self._runs
        self._feeding = True
        try:
            for context in contexts:
                if some_failed and context.failed:
                    context.release()
                    continue
                ledger.current = context
                for run in runs:
                    ledger.feeding = run
                    try:
                        run.subject.on_next(context)
                    except Exception as error:  # a query that raises instead of erroring its stream
                        run.on_error(error)
                ledger.current = None
                ledger.feeding = None
                context.release()
        finally:
            ledger.current = ledger.feeding = None
            self._feeding = False
        self._submit_pending()

    def _decode_all(self, batch: Sequence[ReceivedMessage]) -> tuple[list[ProcessingContext], bool]:
        """A context per message, and whether any failed to decode.

        The batch decodes in one call (a type is resolved once per batch), and message by message,
        each failure on its own context, only when that call fails.
        """
        try:
            events = many_deserializer(self.serializer)([(m.envelope.metadata(), m.envelope.data) for m in batch])
        except Exception:
            return [self._decode(received) for received in batch], True
        ledger = self._ledger
        contexts = [ProcessingContext(event, received, ledger) for event, received in zip(events, batch, strict=True)]
        for context in contexts:
            context.acquire()  # the feed's own count, released once every query has seen it
        return contexts, False

    def _decode(self, received: ReceivedMessage) -> ProcessingContext:
        try:
            event = received.envelope.to_event(self.serializer)
        except Exception as error:
            logger.exception(
                "message %s could not be decoded", received.envelope.id, extra=log_fields(envelope=received.envelope)
            )
            context = ProcessingContext(cast(Event, None), received, self._ledger)
            context.mark_failed(f"could not decode: {error!r}")
        else:
            context = ProcessingContext(event, received, self._ledger)
        context.acquire()  # the feed's own count, released once every query has seen it
        return context

    def _current(self) -> ProcessingContext | None:
        return self._ledger.current

    def _emitted(self, run: QueryRun, outcome: ActionableContext[Any]) -> None:
        self._pending_work.append((run, outcome))
        if not self._feeding and not self._submit_scheduled:
            self._submit_scheduled = True
            asyncio.get_running_loop().call_soon(self._submit_pending)

    def _submit_pending(self) -> None:
        self._submit_scheduled = False
        if not self._pending_work:
            return
        work, self._pending_work = self._pending_work, []
        if self.action_concurrency == 1:
            self._work.put_nowait(work)
            return
        streams = self._streams
        for item in work:
            contexts = item[1].contexts
            key = contexts[0].received.envelope.subject if contexts else ""
            queued = streams.get(key)
            if queued is not None:
                queued.append(item)
            else:
                streams[key] = deque((item,))
                self._work.put_nowait(key)

    async def _worker(self) -> None:
        while True:
            work = await self._work.get()
            if work is None:
                return
            self._busy_workers += 1
            try:
                if isinstance(work, str):
                    await self._act_on_stream(work)
                else:
                    await self._act(work)
            finally:
                self._busy_workers -= 1
                self._check_idle()

    async def _act_on_stream(self, key: str) -> None:
        """Run a stream's outcomes until none are queued for it; outcomes queued meanwhile join in order."""
        queued = self._streams[key]
        try:
            while queued:
                work = list(queued)
                queued.clear()
                await self._act(work)
        finally:
            if not queued:
                del self._streams[key]

    async def _act(self, work: _Work) -> None:
        stats = self._stats
        stats.actions += len(work)
        outer = current_message_context()
        for run, outcome in work:
            entered = enter_derived_context(partial(handled_context, outcome.contexts, outer))
            try:
                await acting(self.source.receiver, run.name, run.action, outcome)
            except Exception as error:
                stats.failed_actions += 1
                fields = log_fields(envelope=outcome.contexts[0].envelope) if outcome.contexts else None
                logger.exception("action of %s failed for messages %s", run.name, outcome.message_ids, extra=fields)
                reason = f"action of {run.name} failed: {error!r}"
                for context in outcome.contexts:
                    context.mark_failed(reason)
                    context.release()
            else:
                if outcome.auto_complete:
                    for context in outcome.contexts:
                        context.release()
                else:
                    for context in outcome.contexts:
                        context.await_manual()
            finally:
                leave_context(entered)

    def _wake_settler(self) -> None:
        self._settle_wanted.set()

    async def _settler(self) -> None:
        while True:
            await self._settle_wanted.wait()
            self._settle_wanted.clear()
            await self._settle_now()

    async def _settle_now(self) -> None:
        ledger = self._ledger
        if ledger.unfreed:
            self._freed(ledger.take_unfreed())
        while ledger.settlements:
            settlements, ledger.settlements = ledger.settlements, []
            calls = [call for call in map(self._call, settlements) if call is not None]
            if len(calls) == 1:
                await calls[0]
            elif calls:
                await asyncio.gather(*calls)
            self._freed(len(settlements))

    def _freed(self, count: int) -> None:
        self._in_flight -= count
        if self.max_in_flight - self._in_flight >= self._resume_at:
            self._capacity.set()
        if self._in_flight == 0:
            self._check_idle()

    def _call(self, settlement: Settlement) -> Any:
        outcome = settlement.outcome
        stats = self._stats
        if outcome is Outcome.COMPLETE:
            stats.completed += 1
            return self._settle(settlement, settlement.received.complete())
        if outcome is Outcome.ABANDON:
            stats.abandoned += 1
            return self._settle(settlement, settlement.received.abandon())
        stats.dead_lettered += 1
        envelope = settlement.received.envelope
        logger.error(
            "dead-lettering message %s: %s", envelope.id, settlement.reason, extra=log_fields(envelope=envelope)
        )
        return self._settle(settlement, settlement.received.dead_letter(settlement.reason or "failed"))

    async def _settle(self, settlement: Settlement, call: Any) -> None:
        try:
            await call
        except Exception:
            logger.exception(
                "could not %s message %s; the channel will redeliver it",
                settlement.outcome.value,
                settlement.received.envelope.id,
                extra=log_fields(envelope=settlement.received.envelope),
            )
        else:
            if settlement.outcome is Outcome.DEAD_LETTER:
                dead_lettered(self.source.receiver, "failed")

    def _check_idle(self) -> None:
        if self._in_flight == 0 and not self._busy_workers and self._work.empty() and not self._pending_work:
            self._idle.set()

    async def idle(self) -> None:
        """Wait until nothing received is unsettled and no action is running (for tests and shutdown)."""
        await self._idle.wait()
