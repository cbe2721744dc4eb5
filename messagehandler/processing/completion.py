"""Settling received messages by the kind of channel they came from.

- transactional: each message on its own, once everything it started is done: completed when all
  its actions succeeded; abandoned (the broker redelivers it) when one failed; dead-lettered when it
  failed on its `max_attempts`-th delivery, so a poison message stops cycling;
- streaming: per received batch, in receive order: a batch's messages are completed (the receiver's
  checkpoint moves past them) only when every message of it and of every earlier batch succeeded; a
  failed batch is abandoned whole (the receiver rewinds to its checkpoint), and so is every batch
  received before the rewind, because the cursor cannot skip them. A message that failed on its
  `max_attempts`-th delivery is dead-lettered instead (the receiver logs and skips it) and does not
  fail its batch, so one poison event cannot stop the stream;
- volatile: nothing to settle; failures are logged and the message is gone (at-most-once).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from messagehandler.channels.protocol import ChannelKind, ReceivedMessage
from messagehandler.processing.context import ProcessingContext


class Outcome(enum.Enum):
    COMPLETE = "complete"
    ABANDON = "abandon"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class Settlement:
    received: ReceivedMessage
    outcome: Outcome
    reason: str | None = None


class Completion(Protocol):
    """Turns finished contexts into settlements; called synchronously, settled by the host."""

    settles: bool
    """False when the channel takes no settlement at all, so the host skips the settler entirely."""

    def begin(self, contexts: Sequence[ProcessingContext]) -> None:
        """A batch was received; called before any of its contexts can finish."""
        ...

    def finished(self, context: ProcessingContext, out: list[Settlement]) -> None: ...

    def release_all(self, contexts: Sequence[ProcessingContext], out: list[Settlement]) -> None:
        """Shutdown: let go of contexts that will not finish, so the channel can redeliver them."""
        ...


class TransactionalCompletion:
    settles = True

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts

    def begin(self, contexts: Sequence[ProcessingContext]) -> None:
        return None

    def finished(self, context: ProcessingContext, out: list[Settlement]) -> None:
        error = context.error
        if error is None:
            out.append(Settlement(context.received, Outcome.COMPLETE))
        elif context.delivery_count >= self.max_attempts:
            reason = f"failed on delivery {context.delivery_count} of at most {self.max_attempts}: {error}"
            out.append(Settlement(context.received, Outcome.DEAD_LETTER, reason))
        else:
            out.append(Settlement(context.received, Outcome.ABANDON, error))

    def release_all(self, contexts: Sequence[ProcessingContext], out: list[Settlement]) -> None:
        out.extend(Settlement(context.received, Outcome.ABANDON, "host stopped") for context in contexts)


@dataclass(eq=False, slots=True)
class _Batch:
    contexts: Sequence[ProcessingContext]
    remaining: int
    failed: bool = False
    poisoned: dict[int, str] = field(default_factory=dict)


class StreamingCompletion:
    settles = True

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts
        self._batches: deque[_Batch] = deque()

    def begin(self, contexts: Sequence[ProcessingContext]) -> None:
        batch = _Batch(contexts, len(contexts))
        for context in contexts:
            context.batch = batch
        self._batches.append(batch)

    def finished(self, context: ProcessingContext, out: list[Settlement]) -> None:
        batch: _Batch = context.batch
        batch.remaining -= 1
        error = context.error
        if error is not None and context.delivery_count >= self.max_attempts:
            reason = f"failed on delivery {context.delivery_count} of at most {self.max_attempts}: {error}"
            batch.poisoned[id(context)] = reason
        elif error is not None and not batch.failed:
            for queued in self._batches:
                queued.failed = True
        self._drain(out)

    def _drain(self, out: list[Settlement]) -> None:
        batches = self._batches
        while batches and batches[0].remaining == 0:
            batch = batches.popleft()
            if batch.failed:
                reason = "batch failed; rewinding to the checkpoint"
                out.extend(Settlement(context.received, Outcome.ABANDON, reason) for context in batch.contexts)
                continue
            for context in batch.contexts:
                poison = batch.poisoned.get(id(context))
                outcome = Outcome.COMPLETE if poison is None else Outcome.DEAD_LETTER
                out.append(Settlement(context.received, outcome, poison))

    def release_all(self, contexts: Sequence[ProcessingContext], out: list[Settlement]) -> None:
        for batch in self._batches:
            batch.failed = True
            batch.remaining = 0
        self._drain(out)


class VolatileCompletion:
    settles = False

    def begin(self, contexts: Sequence[ProcessingContext]) -> None:
        return None

    def finished(self, context: ProcessingContext, out: list[Settlement]) -> None:
        return None

    def release_all(self, contexts: Sequence[ProcessingContext], out: list[Settlement]) -> None:
        return None


def completion_for(kind: ChannelKind, *, max_attempts: int) -> Completion:
    if kind is ChannelKind.TRANSACTIONAL:
        return TransactionalCompletion(max_attempts)
    if kind is ChannelKind.STREAMING:
        return StreamingCompletion(max_attempts)
    return VolatileCompletion()
