"""Re-running a command when another writer got there first."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from messagehandler.domain.aggregate import EventSourced
from messagehandler.errors import ConcurrencyError
from messagehandler.eventsource.protocol import EventSource
from messagehandler.repository.access import AccessStrategy
from messagehandler.repository.repository import AggregateRepository
from messagehandler.telemetry.metrics import count_retry

if TYPE_CHECKING:
    from messagehandler.channels.dispatcher import Dispatcher

T = TypeVar("T")


async def retry_on_conflict(
    source: EventSource,
    command: Callable[[AggregateRepository], Awaitable[T]],
    *,
    attempts: int = 3,
    backoff: float = 0.01,
    dispatcher: Dispatcher | None = None,
    access: Mapping[type[EventSourced], AccessStrategy] | None = None,
) -> T:
    """Run `command` in a fresh unit of work and flush; on `ConcurrencyError` re-load and run it again.

    The command must do all its work through the repository it is given, so each attempt starts from
    the latest stored state. After `attempts` conflicts the last `ConcurrencyError` is raised. A flush
    that stored some aggregates before failing on another is not retried (re-running the command would
    apply it twice to the ones stored); its error is raised at once. `access` gives every attempt's
    repository the same access strategies (a `Cached` state cache is caught up by each attempt's load).
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        repository = AggregateRepository(source, dispatcher=dispatcher, access=access)
        result = await command(repository)
        try:
            await repository.flush()
        except ConcurrencyError as conflict:
            if attempt == attempts or repository.last_flush_committed:
                raise
            count_retry(conflict.stream_type)
            await asyncio.sleep(backoff * attempt * (0.5 + random.random()))
            continue
        return result
    raise AssertionError("unreachable")  # pragma: no cover
