"""given / when / then: it passes what is right and fails, with a readable message, on what is not."""

from __future__ import annotations

import pytest

from messagehandler.testing import given
from samples.organization import Organization, OrganizationRegistered, OrganizationRenamed

REGISTERED = OrganizationRegistered(name="Acme", country="BE")


def test_then_compares_the_emitted_payloads_and_returns_the_aggregate() -> None:
    org = given(Organization, REGISTERED).when(lambda o: o.rename("Acme NV")).then(OrganizationRenamed(name="Acme NV"))

    assert org.name == "Acme NV"
    assert org.version == 2
    assert org.committed_version == 1


def test_history_is_applied_as_stored_versions() -> None:
    org = given(Organization, REGISTERED, OrganizationRenamed(name="B"), id="acme").aggregate

    assert [e.metadata.version for e in org.history] == [1, 2]
    assert {e.metadata.stream for e in org.history} == {"Organization/acme"}


def test_a_different_payload_fails_listing_both() -> None:
    outcome = given(Organization, REGISTERED).when(lambda o: o.rename("Acme NV"))

    with pytest.raises(AssertionError) as raised:
        outcome.then(OrganizationRenamed(name="Acme SA"))

    assert "Acme SA" in str(raised.value)
    assert "Acme NV" in str(raised.value)


def test_then_fails_when_the_command_raised() -> None:
    outcome = given(Organization).when(lambda o: o.rename("x"))

    with pytest.raises(AssertionError, match="raised ValueError: organization given is not registered"):
        outcome.then(OrganizationRenamed(name="x"))


def test_then_nothing_passes_a_command_that_changes_nothing() -> None:
    given(Organization, REGISTERED).when(lambda o: o.rename("Acme")).then_nothing()

    with pytest.raises(AssertionError, match="no events"):
        given(Organization, REGISTERED).when(lambda o: o.rename("Other")).then_nothing()


def test_then_raises_checks_type_message_and_that_nothing_was_emitted() -> None:
    error = (
        given(Organization, REGISTERED)
        .when(lambda o: o.register("again"))
        .then_raises(ValueError, match="already registered")
    )

    assert "acme" not in str(error)
    with pytest.raises(AssertionError, match="does not match"):
        given(Organization).when(lambda o: o.rename("x")).then_raises(ValueError, match="elsewhere")
    with pytest.raises(AssertionError, match="raised ValueError"):
        given(Organization).when(lambda o: o.rename("x")).then_raises(KeyError)
    with pytest.raises(AssertionError, match="but it emitted"):
        given(Organization, REGISTERED).when(lambda o: o.rename("y")).then_raises(ValueError)


def test_then_raises_fails_when_the_command_emitted_before_raising() -> None:
    def rename_then_fail(org: Organization) -> None:
        org.rename("half")
        raise RuntimeError("then failed")

    with pytest.raises(AssertionError, match="emitted first"):
        given(Organization, REGISTERED).when(rename_then_fail).then_raises(RuntimeError)
