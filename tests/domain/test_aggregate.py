from __future__ import annotations

from datetime import UTC, datetime

import pytest

from messagehandler import (
    Event,
    EventAlreadyEmittedError,
    EventSourced,
    HandlerDefinitionError,
    MissingHandlerError,
    StreamIntegrityError,
    applies,
    message_context,
)
from messagehandler.testing import recorded
from samples.organization import Organization, OrganizationRegistered, OrganizationRenamed
from tests.repository.counter import Counter, CounterState


class Unhandled(Event):
    pass


def registered(org_id: str = "acme") -> Organization:
    org = Organization(org_id)
    org.register("Acme", country="BE")
    return org


def test_emit_applies_the_event_and_keeps_it_pending() -> None:
    org = registered()
    org.rename("Acme Corp")

    assert org.name == "Acme Corp"
    assert org.version == 2
    assert org.committed_version == 0
    assert org.pending_events == (
        OrganizationRegistered(name="Acme", country="BE"),
        OrganizationRenamed(name="Acme Corp"),
    )
    assert org.history == ()


def test_emit_stamps_the_metadata() -> None:
    before = datetime.now(UTC)
    with message_context(who="alice", correlation_id="corr", causation_id="cmd", tenant_id="t1"):
        org = registered()
    after = datetime.now(UTC)

    meta = org.pending_events[0].metadata
    assert (meta.source_type, meta.source_id, meta.version) == ("Organization", "acme", 1)
    assert meta.event_type == "OrganizationRegistered"
    assert before <= meta.when <= after
    assert meta.when.tzinfo is UTC
    assert (meta.who, meta.correlation_id, meta.causation_id, meta.tenant_id) == ("alice", "corr", "cmd", "t1")
    assert meta.schema_version == 1
    assert len(meta.event_id) == 36


def test_event_ids_are_unique() -> None:
    org = registered()
    for n in range(50):
        org.rename(f"name {n}")

    assert len({e.metadata.event_id for e in org.pending_events}) == 51


def test_nested_message_contexts_inherit_unset_values() -> None:
    with message_context(who="alice", correlation_id="outer"), message_context(causation_id="inner-cmd"):
        org = registered()

    meta = org.pending_events[0].metadata
    assert (meta.who, meta.correlation_id, meta.causation_id) == ("alice", "outer", "inner-cmd")


def test_commit_moves_pending_events_to_history() -> None:
    org = registered()
    committed = org.commit()

    assert committed == [OrganizationRegistered(name="Acme", country="BE")]
    assert org.pending_events == ()
    assert org.history == tuple(committed)
    assert org.committed_version == 1


def test_restore_from_rebuilds_state() -> None:
    events = recorded("Organization", "acme", [OrganizationRegistered(name="A"), OrganizationRenamed(name="B")])
    org = Organization("acme")

    org.restore_from(events)

    assert (org.name, org.version, org.committed_version) == ("B", 2, 2)
    assert org.history == tuple(events)


def test_the_last_event_id_follows_every_way_a_state_moves() -> None:
    events = recorded("Organization", "acme", [OrganizationRegistered(name="A"), OrganizationRenamed(name="B")])
    org = Organization("acme")
    assert org.last_event_id is None

    org.restore_from(events[:1])
    assert org.last_event_id == events[0].metadata.event_id
    with pytest.raises(StreamIntegrityError):
        org.restore_from([events[1], events[0]])  # the first applies, the second is out of order
    assert (org.version, org.last_event_id) == (2, events[1].metadata.event_id)
    org.rename("C")
    (renamed,) = org.pending_events
    assert org.last_event_id == renamed.metadata.event_id
    org.commit()
    assert org.detached().last_event_id == renamed.metadata.event_id
    counter = Counter("c")
    counter.restore_snapshot(CounterState(total=3, count=2), 2, "at-2")
    assert (counter.version, counter.total, counter.last_event_id) == (2, 3, "at-2")


def test_replaying_the_same_events_gives_the_same_state() -> None:
    events = recorded("Organization", "acme", [OrganizationRegistered(name="A"), OrganizationRenamed(name="B")])
    first, second = Organization("acme"), Organization("acme")
    first.restore_from(events)
    second.restore_from(events)

    assert vars(first) == vars(second)


def test_restore_from_refuses_versions_out_of_order() -> None:
    events = recorded("Organization", "acme", [OrganizationRegistered(name="A"), OrganizationRenamed(name="B")])
    org = Organization("acme")

    with pytest.raises(StreamIntegrityError, match=r"'Organization/acme' has version 2, expected 1") as raised:
        org.restore_from([events[1], events[0]])
    assert raised.value.version == 2
    assert raised.value.stream == "Organization/acme"
    assert org.version == 0


def test_restore_from_refuses_a_gap() -> None:
    events = recorded("Organization", "acme", [OrganizationRegistered(name="A"), OrganizationRenamed(name="B")])
    org = Organization("acme")
    org.restore_from(events[:1])

    with pytest.raises(StreamIntegrityError, match="expected 2"):
        org.restore_from(recorded("Organization", "acme", [OrganizationRenamed(name="C")], start_version=3))
    assert org.version == 1


def test_restore_from_refuses_events_of_another_stream() -> None:
    with pytest.raises(StreamIntegrityError, match="belongs to stream 'Organization/other'"):
        Organization("acme").restore_from(recorded("Organization", "other", [OrganizationRegistered(name="A")]))


def test_an_event_without_handler_is_refused_at_emit_and_nothing_is_pending() -> None:
    org = registered()

    with pytest.raises(
        MissingHandlerError,
        match=r"no apply handler for event type 'Unhandled' \(stream 'Organization/acme', version 2\)",
    ):
        org.emit(Unhandled())

    assert org.version == 1
    assert len(org.pending_events) == 1


def test_an_event_without_handler_is_refused_on_replay() -> None:
    events = recorded("Organization", "acme", [OrganizationRegistered(name="A"), Unhandled()])

    with pytest.raises(MissingHandlerError, match="version 2"):
        Organization("acme").restore_from(events)


def test_the_same_event_instance_cannot_be_emitted_twice() -> None:
    org = registered()
    event = OrganizationRenamed(name="X")
    org.emit(event)

    with pytest.raises(EventAlreadyEmittedError, match="version 2"):
        org.emit(event)


def test_a_failing_handler_leaves_nothing_pending() -> None:
    class Exploded(Event):
        pass

    class Fragile(EventSourced):
        def apply_exploded(self, event: Exploded) -> None:
            raise RuntimeError("boom")

    fragile = Fragile("f1")
    with pytest.raises(RuntimeError):
        fragile.emit(Exploded())
    assert fragile.version == 0
    assert fragile.pending_events == ()


class Opened(Event):
    pass


class SpecialOpened(Opened):
    pass


class Closed(Event):
    pass


class Door(EventSourced):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.log: list[str] = []

    def apply_opened(self, event: Opened) -> None:
        self.log.append(f"opened:{type(event).__name__}")

    @applies
    def on_closed(self, event: Closed) -> None:
        self.log.append("closed")


def test_handlers_are_found_by_prefix_or_decorator_and_subclass_events_reach_the_base_handler() -> None:
    door = Door("d1")
    door.emit(Opened())
    door.emit(Closed())
    door.emit(SpecialOpened())

    assert door.log == ["opened:Opened", "closed", "opened:SpecialOpened"]
    assert set(Door.handled_event_types()) == {Opened, Closed}


def test_applies_can_name_the_event_type_explicitly() -> None:
    class Lock(EventSourced):
        locked = False

        @applies(Closed)
        def whatever(self, event) -> None:  # type: ignore[no-untyped-def]
            self.locked = True

    lock = Lock("l1")
    lock.emit(Closed())
    assert lock.locked


def test_a_handler_without_annotation_fails_at_class_definition() -> None:
    with pytest.raises(
        HandlerDefinitionError, match=r"Broken.apply_something: the event parameter 'event' has no type annotation"
    ):

        class Broken(EventSourced):
            def apply_something(self, event) -> None:  # type: ignore[no-untyped-def]
                pass


def test_a_handler_annotated_with_a_non_event_fails() -> None:
    with pytest.raises(HandlerDefinitionError, match="not an Event subclass"):

        class Broken(EventSourced):
            def apply_something(self, event: int) -> None:
                pass


def test_two_handlers_for_one_event_type_fail() -> None:
    with pytest.raises(HandlerDefinitionError, match="two apply handlers for 'Closed'"):

        class Broken(EventSourced):
            def apply_closed(self, event: Closed) -> None:
                pass

            def apply_shut(self, event: Closed) -> None:
                pass


def test_a_subclass_may_override_a_handler_by_name() -> None:
    class LoudDoor(Door):
        def apply_opened(self, event: Opened) -> None:
            self.log.append("OPENED")

    door = LoudDoor("d2")
    door.emit(Opened())
    assert door.log == ["OPENED"]
    assert LoudDoor.stream_type() == "LoudDoor"


def test_annotations_naming_later_classes_resolve_on_first_use() -> None:
    door = Later("x")
    door.emit(DefinedAfter())
    assert door.seen


class Later(EventSourced):
    seen = False

    def apply_after(self, event: DefinedAfter) -> None:
        self.seen = True


class DefinedAfter(Event):
    pass


def test_an_aggregate_needs_a_non_empty_id() -> None:
    with pytest.raises(StreamIntegrityError):
        Organization("")


def test_repr_names_id_and_version() -> None:
    assert repr(registered()) == "<Organization id='acme' version=1>"


def test_a_detached_copy_shares_nothing_mutable_and_keeps_no_history() -> None:
    org = Organization("acme")
    org.register("Acme")
    org.commit()
    org.tags = ["a"]  # type: ignore[attr-defined]

    copy = org.detached()
    copy.tags.append("b")  # type: ignore[attr-defined]

    assert (copy.id, copy.version, copy.name, copy.committed_version) == ("acme", 1, "Acme", 1)
    assert org.tags == ["a"]  # type: ignore[attr-defined]
    assert copy.history == ()
    assert len(org.history) == 1
    copy.rename("Acme NV")
    assert (org.name, org.pending_events) == ("Acme", ())


def test_only_committed_state_can_be_detached() -> None:
    org = Organization("acme")
    org.register("Acme")

    with pytest.raises(StreamIntegrityError, match="holds 1 pending events: flush before copying"):
        org.detached()
