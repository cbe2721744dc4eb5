"""The `StandingQuery` protocol: a reactive query that runs for as long as the host does.

A query is built once, when the host starts, over a hot observable of `ProcessingContext`s, and
returns the observable of `ActionableContext`s the host acts on. Time-based operators pick up the
host's scheduler (an `AsyncIOScheduler` on the running loop, or a `TestScheduler` in tests) from
the subscription, so a query never names a scheduler itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops

from messagehandler.processing.context import ActionableContext, ProcessingContext

T = TypeVar("T")


@runtime_checkable
class StandingQuery(Protocol[T]):
    def build(self, stream: Observable[ProcessingContext]) -> Observable[ActionableContext[T]]: ...


def held() -> Callable[[Observable[ProcessingContext]], Observable[ProcessingContext]]:
    """Mark each context that passes as retained by this query until it appears in an outcome.

    Put it where a query starts to buffer (before a window or an aggregation): without it, a message
    that produced no outcome while it was fed is settled right away, so a later window's failing
    action could no longer release it for redelivery. Filter first: a held message that never
    appears in an outcome stays in flight until the host stops and releases it.
    """
    return ops.map(ProcessingContext.hold)


def transform(
    mapper: Callable[[ProcessingContext], Any | None], *, auto_complete: bool = True
) -> Callable[[Observable[ProcessingContext]], Observable[ActionableContext[Any]]]:
    """One outcome per context (or none, when `mapper` returns None): the simple style of processing.

    One operator rather than `map` then `filter`: each operator costs a call chain per message.
    """

    def operator(stream: Observable[ProcessingContext]) -> Observable[ActionableContext[Any]]:
        def subscribe(
            observer: abc.ObserverBase[ActionableContext[Any]], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(context: ProcessingContext) -> None:
                try:
                    message = mapper(context)
                except Exception as error:
                    observer.on_error(error)
                    return
                if message is not None:
                    observer.on_next(ActionableContext(message, (context,), auto_complete))

            return stream.subscribe(on_next, observer.on_error, observer.on_completed, scheduler=scheduler)

        return reactivex.create(subscribe)

    return operator
