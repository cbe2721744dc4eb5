"""Appending through sources written against the protocol before `version_known` and `snapshot=` existed.

`EventSource.append` took `(stream_type, stream_id, expected_version, events)` first; the keyword
options came later, and a third-party source (or a test double) may still define the old form. Both
options can be left out without changing what is stored: `version_known` only spares the source a
check, and a snapshot is a cache of what the events say. So `append` calls the old form for such a
source, decided once per class from its signature, and says once per class that its snapshots are
dropped.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence

from messagehandler.events.event import Event
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.eventsource.protocol import EventSource
from messagehandler.eventsource.snapshots import Snapshot

logger = logging.getLogger("messagehandler.eventsource")

_OPTIONS = ("version_known", "snapshot")
_TAKES: dict[type, frozenset[str]] = {}


def _options_taken(source: EventSource) -> frozenset[str]:
    """The keyword options the class's `append` accepts, read from its signature once per class."""
    kind = type(source)
    known = _TAKES.get(kind)
    if known is None:
        try:
            parameters = inspect.signature(source.append).parameters.values()
        except (TypeError, ValueError):  # no signature to read (a builtin, say): assume the current protocol
            known = frozenset(_OPTIONS)
        else:
            if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
                known = frozenset(_OPTIONS)
            else:
                known = frozenset(p.name for p in parameters if p.name in _OPTIONS)
        _TAKES[kind] = known
        if "snapshot" not in known:
            logger.warning(
                "%s.append takes no snapshot= (written against an older EventSource protocol): its aggregates are "
                "stored without snapshots and loaded by replaying their events",
                kind.__qualname__,
            )
    return known


async def append(
    source: EventSource,
    stream_type: str,
    stream_id: str,
    expected_version: int,
    events: Sequence[Event],
    *,
    version_known: bool = False,
    snapshot: Snapshot | None = None,
) -> OutboxEntry | None:
    """`source.append(...)` with the keyword options it accepts; the others are left out (see the module)."""
    taken = _options_taken(source)
    options: dict[str, object] = {}
    if "version_known" in taken:
        options["version_known"] = version_known
    if "snapshot" in taken:
        options["snapshot"] = snapshot
    return await source.append(stream_type, stream_id, expected_version, events, **options)  # type: ignore[arg-type]
