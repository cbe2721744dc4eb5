"""Bookkeeping of the messages a host has in flight, shared by the host and its contexts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from messagehandler.channels.protocol import ChannelKind
from messagehandler.processing.completion import Completion, Settlement
from messagehandler.processing.context import ProcessingContext
from messagehandler.processing.errors import ProcessingError

logger = logging.getLogger("messagehandler.processing")


class Holder(Protocol):
    """The standing query being fed, which keeps a held context until one of its outcomes names it."""

    def hold(self, context: ProcessingContext) -> None: ...


class Ledger:
    """Which contexts are open, which query is being fed, and what is ready to settle.

    Everything here is synchronous: it runs inside reactive callbacks. `wake` tells the host that
    settlements are waiting; the host performs them (they are I/O) on its own task. A volatile
    channel takes no settlement, so its contexts are only counted, not kept in a set.
    """

    def __init__(
        self,
        channel: str,
        kind: ChannelKind,
        completion: Completion,
        wake: Callable[[], None],
    ) -> None:
        self.channel = channel
        self.kind = kind
        self.completion = completion
        self.wake = wake
        self._settles = completion.settles
        self.dropped = 0
        self.open_count = 0
        self.unfreed = 0
        self.closed = False
        self.open: set[ProcessingContext] = set()
        self.settlements: list[Settlement] = []
        self.feeding: Holder | None = None
        self.current: ProcessingContext | None = None

    def hold(self, context: ProcessingContext) -> None:
        run = self.feeding
        if run is None:
            raise ProcessingError(
                f"{context!r} was held outside the host's feed: put held() before any operator that "
                "moves work to another scheduler"
            )
        run.hold(context)

    def opened(self, contexts: list[ProcessingContext]) -> None:
        if self._settles:
            self.open.update(contexts)
        else:
            self.open_count += len(contexts)

    def done(self, context: ProcessingContext) -> None:
        if self._settles:
            if context in self.open:
                self.open.discard(context)
                self.completion.finished(context, self.settlements)
                self.wake()
            return
        if self.closed:
            return
        if context.failed:
            logger.warning(
                "message %s is lost (volatile channel %s): %s", context.message_id, self.channel, context.error
            )
        self.open_count -= 1
        self.dropped += 1
        self.unfreed += 1
        if self.unfreed == 1:  # later ones find the host already woken: it takes them all at once
            self.wake()

    def take_unfreed(self) -> int:
        count, self.unfreed = self.unfreed, 0
        return count

    @property
    def open_total(self) -> int:
        return len(self.open) if self._settles else self.open_count

    def release_open(self) -> None:
        """Shutdown: contexts still open will not finish here; give them back to the channel."""
        self.closed = True
        if self._settles:
            contexts = list(self.open)
            self.open.clear()
            self.completion.release_all(contexts, self.settlements)
        else:
            logger.warning("%d messages of volatile channel %s are lost at shutdown", self.open_count, self.channel)
            self.dropped += self.open_count
            self.unfreed += self.open_count
            self.open_count = 0
        self.wake()
