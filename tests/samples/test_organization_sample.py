"""The organization sample, tested as an application would test itself: with messagehandler's testing kit."""

from __future__ import annotations

import pytest

from messagehandler import AggregateRepository, EventSource
from messagehandler.testing import given
from messagehandler.testing.plugin import AzuriteTable
from samples.organization.__main__ import run
from samples.organization.domain import Organization, OrganizationRegistered, OrganizationRenamed

ACME = OrganizationRegistered(name="Acme", country="BE")


def test_a_registered_organization_can_be_renamed() -> None:
    given(Organization, ACME).when(lambda org: org.rename("Acme NV")).then(OrganizationRenamed(name="Acme NV"))


def test_renaming_to_the_same_name_changes_nothing() -> None:
    given(Organization, ACME).when(lambda org: org.rename("Acme")).then_nothing()


def test_an_organization_is_registered_once() -> None:
    given(Organization, ACME).when(lambda org: org.register("Acme again")).then_raises(
        ValueError, match="already registered"
    )


def test_an_unregistered_organization_cannot_be_renamed() -> None:
    given(Organization).when(lambda org: org.rename("Nobody")).then_raises(ValueError, match="not registered")


@pytest.mark.azurite
async def test_the_sample_runs_on_a_table_of_its_own(azurite_table: AzuriteTable) -> None:
    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

    async with AzureTableStorageEventSource.from_connection_string(
        azurite_table.connection_string, azurite_table.name
    ) as source:
        restored = await run(source)
        acme = await AggregateRepository(source).get(Organization, "acme")

    assert acme.name == "Acme Worldwide (retried)"
    assert restored["acme"].name == "Acme Worldwide (retried)"


async def test_the_sample_runs_end_to_end(event_source: EventSource, capsys: pytest.CaptureFixture[str]) -> None:
    await run(event_source)

    out = capsys.readouterr().out
    assert "registered 3 organizations" in out
    assert (
        "conflict detected: concurrency conflict on stream Organization/acme: expected version 2, actual version 3"
        in out
    )
    acme = await AggregateRepository(event_source).get(Organization, "acme")
    assert (acme.name, acme.version) == ("Acme Worldwide (retried)", 4)
    assert all(e.metadata.correlation_id == "organization-sample" for e in acme.history)
    assert "acme     'Acme Worldwide (retried)'       version 4" in out
    assert "restored 3 search entries; results for 'acme':" in out
    results = out.split("results for 'acme':\n")[1].splitlines()
    assert len(results) == 1
    assert results[0].startswith("  acme     'Acme Worldwide (retried)'")
    assert results[0].endswith("formerly: Acme, Acme Corporation, Acme Worldwide")


async def test_the_live_path_keeps_an_index_in_step_with_the_store(capsys: pytest.CaptureFixture[str]) -> None:
    from samples.organization.__main__ import in_memory, run_live

    async with in_memory() as (source, live):
        await run_live(source, live)

    out = capsys.readouterr().out
    assert "live index kept up from the channel: 6 events projected, agrees with the restore: True" in out


@pytest.mark.azurite
def test_the_main_job_runs_end_to_end_on_its_own_azurite() -> None:
    """README's first command, minus the install: the sample starts Azurite, runs, and stops it."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-m", "samples.organization"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "Azurite running at http://127.0.0.1:" in completed.stdout
    assert "conflict detected" in completed.stdout
    assert "agrees with the restore: True" in completed.stdout
