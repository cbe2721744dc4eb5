from __future__ import annotations

import pytest

from messagehandler import AggregateRepository, EventSource
from samples.organization.__main__ import run
from samples.organization.domain import Organization


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
