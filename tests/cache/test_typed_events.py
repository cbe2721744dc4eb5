"""Every typed read path returns exactly what a load returns: payload and every metadata field.

`EventMetadata` equality leaves out `stored_at`, so these tests compare every field by name. The
paths: the store's `load`, `read_type` and `read_changes`; the cache's `RawEvent.metadata`,
`RawEvent.content` (with a registry and with a class) and `CacheEventSource` (`load`, `read_type`,
`read_changes`); and a CloudEvent carried through a channel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from messagehandler import (
    Event,
    EventSource,
    EventTypeRegistry,
    JsonEventSerializer,
    SerializationError,
    UnknownEventTypeError,
)
from messagehandler.cache import CacheEventSource, CacheReader, RawEvent
from messagehandler.channels import CloudEvent
from messagehandler.errors import AmbiguousEventTypeError
from messagehandler.events.personal import EncryptedEventError
from messagehandler.events.serialization import UndecodedEvent, undecoded_as_placeholders
from messagehandler.eventsource.protocol import EventStream
from messagehandler.testing import recorded
from samples.organization import OrganizationRegistered, OrganizationRenamed
from tests.cache.support import ORG, register, replicator


class PriceSetV1(Event, type_name="tests.cache.PriceSet", schema_version=1):
    amount: str


class PriceSetV2(Event, type_name="tests.cache.PriceSet", schema_version=2):
    amount: Decimal
    currency: str


@pytest.fixture(autouse=True)
def _register(event_source: EventSource) -> None:
    register(event_source)


def fields(events: Sequence[Event]) -> list[dict[str, object]]:
    return [dataclasses.asdict(event.metadata) for event in events]


def fully_stamped(stream_id: str, events: list[Event], *, start_version: int = 1) -> list[Event]:
    """Events with every optional metadata field set, the encryption key id included."""
    stamped = recorded(
        ORG,
        stream_id,
        events,
        start_version=start_version,
        who="alice",
        causation_id="cmd-1",
        correlation_id="corr-1",
        tenant_id="tenant-1",
    )
    for event in stamped:
        event._stamp(dataclasses.replace(event.metadata, encryption_key_id=f"key-{stream_id}"))
    return stamped


async def all_events(streams: AsyncIterator[EventStream]) -> list[Event]:
    return [event async for stream in streams for event in stream.events]


async def test_every_read_path_returns_every_metadata_field_a_load_returns(
    event_source: EventSource, tmp_path: Path
) -> None:
    first = fully_stamped("acme", [OrganizationRegistered(name="Acme", country="BE")])
    await event_source.append(ORG, "acme", 0, first)
    await event_source.append(ORG, "acme", 1, fully_stamped("acme", [OrganizationRenamed(name="A")], start_version=2))
    loaded = await event_source.load(ORG, "acme")
    expected = fields(loaded)
    await replicator(event_source, tmp_path).replicate([ORG])
    cache = CacheEventSource(tmp_path, event_source.registry)
    raws = list(CacheReader(tmp_path).events())

    assert all(meta["stored_at"] is not None and meta["encryption_key_id"] == "key-acme" for meta in expected)
    assert fields(first) == [{**meta, "stored_at": None} for meta in expected[:1]]
    paths: dict[str, list[Event]] = {
        "store read_type": await all_events(event_source.read_type(ORG)),
        "store read_changes": await all_events(event_source.read_changes(ORG, None)),
        "content(registry)": [raw.content(event_source.registry) for raw in raws],
        "content(class)": [raws[0].content(OrganizationRegistered), raws[1].content(OrganizationRenamed)],
        "cache load": await cache.load(ORG, "acme"),
        "cache read_type": await all_events(cache.read_type(ORG)),
        "cache read_changes": await all_events(cache.read_changes(ORG, loaded[0].metadata.stored_at)),
    }
    for path, events in paths.items():
        assert events == loaded, path
        assert fields(events) == expected, path
        assert [type(event) for event in events] == [OrganizationRegistered, OrganizationRenamed], path
    assert [dataclasses.asdict(raw.metadata) for raw in raws] == expected


async def test_a_channel_delivers_every_metadata_field_but_the_commit_time(event_source: EventSource) -> None:
    """The encryption key id travels too (the `encryptionkeyid` extension): a subscriber needs it to open sealed data."""
    await event_source.append(ORG, "acme", 0, fully_stamped("acme", [OrganizationRegistered(name="A", country="BE")]))
    (loaded,) = await event_source.load(ORG, "acme")
    serializer = JsonEventSerializer(event_source.registry)

    delivered = CloudEvent.from_json(CloudEvent.from_event(loaded, serializer).to_json()).to_event(serializer)

    assert delivered == loaded
    assert fields([delivered]) == [{**fields([loaded])[0], "stored_at": None}]


async def test_old_schema_versions_are_upcast_on_every_cached_path_keeping_the_other_fields(
    event_source: EventSource, tmp_path: Path
) -> None:
    event_source.registry.register(PriceSetV1)
    await event_source.append("Product", "p1", 0, recorded("Product", "p1", [PriceSetV1(amount="9.50")], who="bob"))
    await replicator(event_source, tmp_path).replicate(["Product"])
    newer = EventTypeRegistry([PriceSetV2], closed=True)
    newer.add_upcaster(PriceSetV2, 1, lambda data: {**data, "currency": "EUR"})
    (raw,) = CacheReader(tmp_path).events()
    stored = dataclasses.asdict(raw.metadata)
    cache = CacheEventSource(tmp_path, newer)

    reads = {
        "content(registry)": [raw.content(newer)],
        "cache load": await cache.load("Product", "p1"),
        "cache read_type": await all_events(cache.read_type("Product")),
    }

    for path, events in reads.items():
        assert events == [PriceSetV2(amount=Decimal("9.50"), currency="EUR")], path
        assert fields(events) == [{**stored, "schema_version": 2}], path
    assert (stored["schema_version"], stored["who"]) == (1, "bob")
    assert stored["stored_at"] is not None


async def test_a_body_that_does_not_fit_its_class_raises_the_typed_error_on_every_cached_path(
    event_source: EventSource, tmp_path: Path
) -> None:
    await event_source.append(ORG, "acme", 0, recorded(ORG, "acme", [OrganizationRenamed(name="A")]))
    await replicator(event_source, tmp_path).replicate([ORG])
    (raw,) = CacheReader(tmp_path).events()

    class Strict(Event, type_name="OrganizationRenamed"):
        name: int

    registry = EventTypeRegistry([Strict], closed=True)
    cache = CacheEventSource(tmp_path, registry)

    for read in (
        lambda: raw.content(registry),
        lambda: JsonEventSerializer(registry).deserialize(raw.body, raw.metadata),
    ):
        with pytest.raises(SerializationError, match=r"OrganizationRenamed.*Organization/acme.*version 1"):
            read()
    with pytest.raises(SerializationError, match=r"Organization/acme.*version 1"):
        await cache.load(ORG, "acme")
    with undecoded_as_placeholders():
        (placeholder,) = await cache.load(ORG, "acme")
    assert isinstance(placeholder, UndecodedEvent)
    assert placeholder.body == raw.body
    assert dataclasses.asdict(placeholder.metadata) == dataclasses.asdict(raw.metadata)


async def test_unknown_and_ambiguous_types_still_raise_their_own_errors(
    event_source: EventSource, tmp_path: Path
) -> None:
    class Twice(Event, type_name="tests.cache.Twice"):
        n: int

    event_source.registry.register(Twice)
    await event_source.append(ORG, "acme", 0, recorded(ORG, "acme", [Twice(n=1)]))
    await replicator(event_source, tmp_path).replicate([ORG])
    (raw,) = CacheReader(tmp_path).events()

    class TwiceAgain(Event, type_name="tests.cache.Twice"):
        n: int

    with pytest.raises(AmbiguousEventTypeError, match=r"tests\.cache\.Twice"):
        raw.content(EventTypeRegistry())
    with pytest.raises(UnknownEventTypeError, match=r"tests\.cache\.Twice.*Organization/acme"):
        raw.content(EventTypeRegistry(closed=True))
    assert raw.content(EventTypeRegistry([TwiceAgain])) == TwiceAgain(n=1)


class Annotation(Event, type_name="tests.cache.Annotation"):
    text: str | dict[str, str]


def test_a_sealed_body_read_without_keys_is_refused_even_when_its_class_would_accept_it() -> None:
    body = '{"text":{"$personal":"bm9uY2U=","key":"k-1"}}'
    meta = recorded(ORG, "acme", [Annotation(text="x")])[0].metadata
    raw = RawEvent(1, ORG, "acme", 1, meta.event_type, 1, meta.event_id, 0, None, None, None, None, None, "k-1", body)
    registry = EventTypeRegistry([Annotation], closed=True)

    assert Annotation.model_validate_json(body).text == {"$personal": "bm9uY2U=", "key": "k-1"}
    for read in (lambda: JsonEventSerializer(registry).deserialize(body, meta), lambda: raw.content(registry)):
        with pytest.raises(EncryptedEventError, match=r"Organization/acme.*version 1.*PersonalDataSerializer"):
            read()
