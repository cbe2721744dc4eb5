"""The limit checks both sources share: the quick screen never lets through what the full check refuses."""

from __future__ import annotations

import dataclasses

import pytest

from messagehandler import Event, InMemoryEventSource, UnstorableEventError
from messagehandler.eventsource import (
    DEFAULT_LIMITS,
    EntityTooLargeError,
    TableLimitError,
    TableLimits,
    TooManyEntitiesError,
)
from messagehandler.eventsource.limits import check_rows, surely_within
from messagehandler.eventsource.rows import BODY_CHUNK_CHARS, to_entity
from messagehandler.testing import recorded


class Noted(Event, type_name="LimitsNoted"):
    text: str


def stamped(texts: list[str], **metadata: str) -> list[Event]:
    events = recorded("Notes", "n", [Noted(text=text) for text in texts])
    return [_with(event, **metadata) for event in events]


def _with(event: Event, **changes: str) -> Event:
    copy = event.model_copy()
    copy._stamp(dataclasses.replace(event.metadata, **changes))
    return copy


def full_check_passes(events: list[Event], *, outbox: bool = False) -> bool:
    bodies = [event.model_dump_json() for event in events]
    rows = [to_entity("Notes", event, body, BODY_CHUNK_CHARS) for event, body in zip(events, bodies, strict=True)]
    outbox_row = {"PartitionKey": "Notes", "RowKey": "$outbox_n", "SourceId": "n", "FromVersion": 1} if outbox else None
    try:
        check_rows("Notes/n", rows, outbox_row=outbox_row)
    except TableLimitError:
        return False
    return True


CASES = {
    "one small event": stamped(["hello"]),
    "99 events": stamped(["x"] * 99),
    "100 events": stamped(["x"] * 100),
    "emoji just under the screen": stamped(["😀" * 49_000] * 4),
    "one big event": stamped(["y" * 190_000]),
    "a long who": stamped(["z"], who="w" * 16_384),
    "a who over the screen": stamped(["z"], who="w" * 16_385),
    "a who over the limit": stamped(["z"], who="w" * 40_000),
    "an event over 1 MiB": stamped(["v" * 600_000]),
    "over 4 MiB together": stamped(["u" * 450_000] * 10),
}


@pytest.mark.parametrize("events", list(CASES.values()), ids=list(CASES))
@pytest.mark.parametrize("outbox", [False, True], ids=["no outbox", "outbox"])
def test_what_the_screen_lets_through_the_full_check_accepts(events: list[Event], outbox: bool) -> None:
    bodies = [event.model_dump_json() for event in events]

    if surely_within(events, bodies, DEFAULT_LIMITS):
        assert full_check_passes(events, outbox=outbox)


def test_the_screen_skips_only_small_appends_of_the_default_limits() -> None:
    small = stamped(["hello"])
    bodies = [event.model_dump_json() for event in small]

    assert surely_within(small, bodies, DEFAULT_LIMITS)
    assert surely_within(small, bodies, None)
    assert not surely_within(small, bodies, TableLimits(entity_bytes=10))
    assert not surely_within(CASES["100 events"], ["x"] * 100, DEFAULT_LIMITS)
    assert not surely_within(CASES["a who over the screen"], ["x"], DEFAULT_LIMITS)


async def test_the_in_memory_source_enforces_the_limits_unless_told_not_to() -> None:
    limited, unlimited = InMemoryEventSource(), InMemoryEventSource(limits=None)
    for source in (limited, unlimited):
        source.registry.register(Noted)
    many = recorded("Notes", "many", [Noted(text=str(n)) for n in range(150)])
    big = recorded("Notes", "big", [Noted(text="b" * 2_000_000)])

    with pytest.raises(TooManyEntitiesError):
        await limited.append("Notes", "many", 0, many)
    with pytest.raises(EntityTooLargeError):
        await limited.append("Notes", "big", 0, big)
    await unlimited.append("Notes", "many", 0, many)
    await unlimited.append("Notes", "big", 0, big)

    assert len(await unlimited.load("Notes", "many")) == 150
    assert await limited.load("Notes", "many") == []


async def test_stricter_limits_of_ones_own_are_applied() -> None:
    source = InMemoryEventSource(limits=TableLimits(entities_per_transaction=10, string_units=100))
    source.registry.register(Noted)

    with pytest.raises(TooManyEntitiesError, match="at most 10"):
        await source.append("Notes", "n", 0, recorded("Notes", "n", [Noted(text="x") for _ in range(11)]))
    await source.append("Notes", "n", 0, recorded("Notes", "n", [Noted(text="x") for _ in range(10)]))


async def test_metadata_that_is_not_text_is_refused_naming_the_field() -> None:
    source = InMemoryEventSource()
    source.registry.register(Noted)
    (event,) = recorded("Notes", "n", [Noted(text="x")])
    copy = event.model_copy()
    copy._stamp(dataclasses.replace(event.metadata, correlation_id=42))  # type: ignore[arg-type]

    with pytest.raises(UnstorableEventError, match=r"metadata.correlation_id.*is a int, not a string"):
        await source.append("Notes", "n", 0, [copy])
