"""The one async seam between whoever (de)serialises events and a serializer that needs keys first.

Serialisation is sync, but a serializer that encrypts personal data (`messagehandler.personal`)
must fetch keys, which is I/O. Event sources, the dispatcher and channel readers therefore await
`prepare_to_write(serializer, events)` before serialising and the preparer of `read_preparer` before
deserialising rows that name an encryption key. For any other serializer both cost nothing: the
first only refuses events with personal data (they would leave in plaintext), the second is None.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol, cast, runtime_checkable

from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata
from messagehandler.events.personal import refuse_plaintext
from messagehandler.events.serialization import EventSerializer

ReadPreparer = Callable[[Iterable[tuple[EventMetadata, str]]], Awaitable[None]]


@runtime_checkable
class PreparingSerializer(Protocol):
    """A serializer that must load keys before `serialize` and `deserialize` can run."""

    async def prepare_to_write(self, events: Sequence[Event]) -> None: ...

    async def prepare_to_read(self, stored: Iterable[tuple[EventMetadata, str]]) -> None: ...


async def prepare_to_write(serializer: EventSerializer, events: Sequence[Event]) -> None:
    """Ready `serializer` for these events, before anything is written.

    Raises:
        UnprotectedPersonalDataError: the serializer cannot seal personal data and an event holds some.
        InvalidSubjectError: an event's data subject cannot name a key.
        ServiceError: the key store or key-encryption key failed.
    """
    if _prepares(serializer):
        await cast(PreparingSerializer, serializer).prepare_to_write(events)
        return
    for event in events:
        refuse_plaintext(event)


def read_preparer(serializer: EventSerializer) -> ReadPreparer | None:
    """What to await with the (metadata, body) of rows that name an encryption key; None when nothing is needed."""
    return cast(PreparingSerializer, serializer).prepare_to_read if _prepares(serializer) else None


_PREPARES: dict[type, bool] = {}


def _prepares(serializer: EventSerializer) -> bool:
    """Whether the serializer's class is a `PreparingSerializer`, decided once per class.

    A protocol `isinstance` check walks the protocol's members (several microseconds), and this runs
    for every append and every stream read: it was a third of the in-memory save path.
    """
    kind = type(serializer)
    known = _PREPARES.get(kind)
    if known is None:
        known = _PREPARES[kind] = isinstance(serializer, PreparingSerializer)
    return known
