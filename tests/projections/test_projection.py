"""Projection classes, the projector's restore and invoke, and the one-line test helpers."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import BaseModel

from messagehandler import Event, EventSource, HandlerDefinitionError
from messagehandler.projections import NoProjectionError, Projection, Projector, RecordFactoryError, projects
from messagehandler.projections.testing import invoke, restore_record, restore_records
from messagehandler.testing import recorded
from samples.organization import OrganizationRegistered, OrganizationRenamed
from samples.organization.search import SearchEntry, SearchEntryProjection

ORG = "Organization"


class Audited(Event, type_name="test.Audited"):
    by: str


@pytest.fixture(autouse=True)
def _register(event_source: EventSource) -> None:
    event_source.registry.register(OrganizationRegistered, OrganizationRenamed, Audited)


async def seed(source: EventSource) -> None:
    await source.append(ORG, "acme", 0, recorded(ORG, "acme", [OrganizationRegistered(name="Acme", country="BE")]))
    await source.append(ORG, "acme", 1, recorded(ORG, "acme", [OrganizationRenamed(name="Acme Corp")], start_version=2))
    await source.append(ORG, "globex", 0, recorded(ORG, "globex", [OrganizationRegistered(name="Globex")]))
    await source.append(ORG, "quiet", 0, recorded(ORG, "quiet", [Audited(by="x")]))


async def test_restore_builds_one_record_per_stream_that_a_projection_handled(event_source: EventSource) -> None:
    await seed(event_source)
    records = await Projector(event_source, SearchEntryProjection).restore(SearchEntry, ORG)

    assert records == {
        "acme": SearchEntry(id="acme", name="Acme Corp", country="BE", former_names=["Acme"]),
        "globex": SearchEntry(id="globex", name="Globex"),
    }


async def test_restore_of_one_stream_and_of_a_missing_one(event_source: EventSource) -> None:
    await seed(event_source)
    projector = Projector(event_source, SearchEntryProjection())

    assert await projector.restore(SearchEntry, ORG, "acme") == SearchEntry(
        id="acme", name="Acme Corp", country="BE", former_names=["Acme"]
    )
    assert await projector.restore(SearchEntry, ORG, "nobody") is None
    assert await projector.restore(SearchEntry, ORG, "quiet") is None


class Card:
    """A plain class with a required constructor argument: needs a factory."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.title = ""
        self.audits = 0


class CardTitles(Projection[Card]):
    def project(self, record: Card, event: OrganizationRegistered) -> None:
        record.title = event.name

    @projects(OrganizationRenamed)
    def renamed(self, record: Card, event: Event) -> None:
        assert isinstance(event, OrganizationRenamed)
        record.title = event.name


class CardAudits(Projection[Card]):
    @projects
    def counted(self, record: Card, event: Audited) -> None:
        record.audits += 1


async def test_several_projections_build_one_record_type_with_a_factory(event_source: EventSource) -> None:
    await seed(event_source)
    projector = Projector(event_source, CardTitles, CardAudits)

    cards = await projector.restore(Card, ORG, factory=lambda stream_id: Card(f"card-{stream_id}"))

    assert {k: (c.key, c.title, c.audits) for k, c in cards.items()} == {
        "acme": ("card-acme", "Acme Corp", 0),
        "globex": ("card-globex", "Globex", 0),
        "quiet": ("card-quiet", "", 1),
    }
    with pytest.raises(RecordFactoryError, match="pass factory="):
        await projector.restore(Card, ORG)


@dataclasses.dataclass(frozen=True)
class Frozen:
    name: str = ""


class FrozenNames(Projection[Frozen]):
    def project_registered(self, record: Frozen, event: OrganizationRegistered) -> Frozen:
        return dataclasses.replace(record, name=event.name)


def test_a_handler_may_return_a_new_record_instead_of_changing_it() -> None:
    events = recorded(ORG, "acme", [OrganizationRegistered(name="Acme")])
    assert restore_record(Frozen, events, FrozenNames) == Frozen("Acme")


def test_invoke_applies_one_event_to_an_existing_record() -> None:
    entry = SearchEntry(id="acme", name="Acme")
    renamed = recorded(ORG, "acme", [OrganizationRenamed(name="Acme Corp")], start_version=2)

    assert invoke(entry, renamed, SearchEntryProjection).former_names == ["Acme"]
    assert entry.name == "Acme Corp"
    assert invoke(entry, recorded(ORG, "acme", [Audited(by="x")])[0], SearchEntryProjection) is entry


async def test_projector_invoke_is_the_real_time_path(event_source: EventSource) -> None:
    projector = Projector(event_source, SearchEntryProjection)
    (registered,) = recorded(ORG, "acme", [OrganizationRegistered(name="Acme")])

    assert projector.invoke(SearchEntry(), registered) == SearchEntry(id="acme", name="Acme")


def test_test_helpers_group_events_by_stream() -> None:
    events = [
        *recorded(ORG, "a", [OrganizationRegistered(name="A")]),
        *recorded(ORG, "b", [OrganizationRegistered(name="B")]),
        *recorded(ORG, "a", [OrganizationRenamed(name="A2")], start_version=2),
    ]
    assert {k: v.name for k, v in restore_records(SearchEntry, events, SearchEntryProjection).items()} == {
        "a": "A2",
        "b": "B",
    }


class Subscriber(BaseModel):
    name: str = ""


def test_asking_for_a_record_type_nobody_builds_fails_with_the_known_types() -> None:
    with pytest.raises(
        NoProjectionError, match=r"no projection builds Subscriber \(record types projected: SearchEntry\)"
    ):
        restore_records(Subscriber, [], SearchEntryProjection)


def test_handler_mistakes_fail_when_the_class_is_defined() -> None:
    with pytest.raises(HandlerDefinitionError, match=r"a project handler takes exactly \(self, record, event\)"):

        class TooFew(Projection[SearchEntry]):
            def project_x(self, event: OrganizationRenamed) -> None: ...

    with pytest.raises(HandlerDefinitionError, match="two project handlers for 'OrganizationRenamed'"):

        class Twice(Projection[SearchEntry]):
            def project_a(self, record: SearchEntry, event: OrganizationRenamed) -> None: ...

            def project_b(self, record: SearchEntry, event: OrganizationRenamed) -> None: ...


def test_a_projection_must_name_its_record_type() -> None:
    class Anonymous(Projection):  # type: ignore[type-arg]
        def project(self, record: SearchEntry, event: OrganizationRenamed) -> None: ...

    with pytest.raises(HandlerDefinitionError, match="subclass Projection"):
        restore_records(SearchEntry, [], Anonymous)
