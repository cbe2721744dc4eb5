"""EventMetadata built the cheap way behaves as the frozen dataclass it is: fields, copies, equality, pickling."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime, timedelta

import pytest

from messagehandler import EventMetadata
from messagehandler.events.metadata import stored_metadata

WHEN = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
STORED = WHEN + timedelta(seconds=1)
VALUES = {
    "event_id": "e-1",
    "event_type": "Opened",
    "source_id": "acme",
    "source_type": "Account",
    "version": 7,
    "when": WHEN,
    "who": "alice",
    "causation_id": "c-1",
    "correlation_id": "r-1",
    "tenant_id": "t-1",
    "schema_version": 3,
    "encryption_key_id": "k-1",
    "stored_at": STORED,
}


def fields_of(meta: EventMetadata) -> dict[str, object]:
    return {f.name: getattr(meta, f.name) for f in dataclasses.fields(meta)}


def test_every_way_of_building_metadata_holds_every_field_as_given() -> None:
    by_keyword = EventMetadata(**VALUES)  # type: ignore[arg-type]
    by_position = EventMetadata(*VALUES.values())  # type: ignore[arg-type]
    by_reader = stored_metadata(*VALUES.values())  # type: ignore[arg-type]

    for meta in (by_keyword, by_position, by_reader):
        assert type(meta) is EventMetadata
        assert fields_of(meta) == VALUES
    assert [f.name for f in dataclasses.fields(EventMetadata)] == list(VALUES)


def test_defaults_are_those_of_an_emitted_event() -> None:
    meta = EventMetadata("e-1", "Opened", "acme", "Account", 1, WHEN)

    assert (meta.who, meta.causation_id, meta.correlation_id, meta.tenant_id) == (None, None, None, None)
    assert (meta.schema_version, meta.encryption_key_id, meta.stored_at) == (1, None, None)


def test_metadata_is_frozen() -> None:
    meta = EventMetadata(**VALUES)  # type: ignore[arg-type]

    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.version = 8  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        vars(meta)  # slots only: no per-instance dict
    assert meta.version == 7


@pytest.mark.parametrize(
    ("copy_with", "name", "value"),
    [
        (EventMetadata.with_stored_at, "stored_at", STORED + timedelta(days=1)),
        (EventMetadata.with_schema_version, "schema_version", 4),
    ],
)
def test_a_copy_changes_its_one_field_and_keeps_every_other(copy_with: object, name: str, value: object) -> None:
    meta = EventMetadata(**VALUES)  # type: ignore[arg-type]

    changed = copy_with(meta, value)  # type: ignore[operator]

    assert fields_of(changed) == {**VALUES, name: value}
    assert fields_of(meta) == VALUES


def test_the_commit_time_takes_no_part_in_equality_or_hashing() -> None:
    meta = EventMetadata(**VALUES)  # type: ignore[arg-type]
    committed_later = meta.with_stored_at(STORED + timedelta(hours=1))

    assert committed_later == meta
    assert hash(committed_later) == hash(meta)
    assert meta.with_schema_version(4) != meta
    assert dataclasses.replace(meta, tenant_id="other") != meta


def test_pickle_copy_and_replace_keep_every_field() -> None:
    meta = EventMetadata(**VALUES)  # type: ignore[arg-type]

    pickled = pickle.loads(pickle.dumps(meta))  # noqa: S301 - our own bytes
    for twin in (pickled, copy.copy(meta), copy.deepcopy(meta), dataclasses.replace(meta)):
        assert type(twin) is EventMetadata
        assert fields_of(twin) == VALUES
    assert fields_of(dataclasses.replace(meta, version=9)) == {**VALUES, "version": 9}


class TracedMetadata(EventMetadata):
    __slots__ = ()


class UnslottedMetadata(EventMetadata):
    """Written as subclasses were before metadata kept its fields in slots: it gets a `__dict__`."""


@pytest.mark.parametrize("kind", [TracedMetadata, UnslottedMetadata])
def test_a_subclass_stays_itself_through_copies(kind: type[EventMetadata]) -> None:
    meta = kind(**VALUES)  # type: ignore[arg-type]

    pickled = pickle.loads(pickle.dumps(meta))  # noqa: S301 - our own bytes
    for twin in (meta.with_stored_at(WHEN), meta.with_schema_version(1)):
        assert type(twin) is kind
    for twin in (copy.deepcopy(meta), pickled, dataclasses.replace(meta), kind.__new__(kind, *VALUES.values())):
        assert type(twin) is kind
        assert fields_of(twin) == VALUES
    assert meta != EventMetadata(**VALUES)  # type: ignore[arg-type]
    assert meta == kind(**VALUES)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.version = 2  # type: ignore[misc]
