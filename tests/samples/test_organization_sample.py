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
