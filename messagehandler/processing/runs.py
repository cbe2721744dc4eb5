"""One standing query running inside a host: its input subject, its subscription, what it holds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from reactivex import abc

from messagehandler.processing.actions import Action
from messagehandler.processing.context import ActionableContext, ProcessingContext
from messagehandler.processing.feed import HotFeed
from messagehandler.processing.standing_query import StandingQuery

logger = logging.getLogger("messagehandler.processing")


class QueryRun:
    """Keeps a query alive: a query whose pipeline errors is rebuilt, and what it held is released as failed."""

    def __init__(
        self,
        query: StandingQuery[Any],
        action: Action[Any],
        emit: Callable[[QueryRun, ActionableContext[Any]], None],
        current: Callable[[], ProcessingContext | None],
    ) -> None:
        self.query = query
        self.action = action
        self.name = getattr(query, "name", type(query).__name__)
        self._emit = emit
        self._current = current
        self.held: set[ProcessingContext] = set()
        self.subject: HotFeed[ProcessingContext] = HotFeed()
        self._subscription: abc.DisposableBase | None = None
        self._scheduler: abc.SchedulerBase | None = None
        self.finished = False

    def start(self, scheduler: abc.SchedulerBase) -> None:
        self._scheduler = scheduler
        self.subject = HotFeed()
        outcomes = self.query.build(self.subject)
        self._subscription = outcomes.subscribe(
            on_next=self._on_outcome, on_error=self.on_error, on_completed=self._on_completed, scheduler=scheduler
        )

    def hold(self, context: ProcessingContext) -> None:
        if context not in self.held:
            self.held.add(context)
            context.acquire()

    def _on_outcome(self, outcome: ActionableContext[Any]) -> None:
        held = self.held
        for context in outcome.contexts:
            if held and context in held:
                held.discard(context)
            else:
                context.acquire()
        self._emit(self, outcome)

    def on_error(self, error: Exception) -> None:
        """The query's pipeline failed (or raised while fed): release what it held as failed and rebuild it."""
        current = self._current()
        ids = sorted({context.message_id for context in self.held} | ({current.message_id} if current else set()))
        logger.error("standing query %s failed; rebuilding it; releasing messages %s", self.name, ids, exc_info=error)
        reason = f"standing query {self.name} failed: {error!r}"
        if current is not None:
            current.mark_failed(reason)
        self._let_go(reason)
        if self._scheduler is not None:
            self.start(self._scheduler)

    def _on_completed(self) -> None:
        self.finished = True
        self._let_go(None)

    def _let_go(self, reason: str | None) -> None:
        held, self.held = self.held, set()
        for context in held:
            if reason is not None:
                context.mark_failed(reason)
            context.release()

    def complete(self) -> None:
        """Shutdown: completing the input flushes open windows, so their outcomes are acted on."""
        self.subject.on_completed()

    def dispose(self) -> None:
        if self._subscription is not None:
            self._subscription.dispose()
