"""A process that only imports the event classes reads them everywhere: restore, processing, relay, cache."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from messagehandler import AggregateRepository
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from samples.organization import Organization

pytestmark = pytest.mark.azurite
ROOT = Path(__file__).resolve().parent.parent


async def test_a_separate_process_reads_what_this_one_wrote(azurite: object, table_name: str, tmp_path: Path) -> None:
    connection_string = azurite.connection_string  # type: ignore[attr-defined]
    async with AzureTableStorageEventSource.from_connection_string(connection_string, table_name, outbox=True) as store:
        repository = AggregateRepository(store)
        acme = Organization("acme")
        acme.register("Acme", "BE")
        acme.rename("Acme NV")
        globex = Organization("globex")
        globex.register("Globex", "NL")
        repository.add(acme)
        repository.add(globex)
        await repository.flush()

    completed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.support.reader_process", table_name, str(tmp_path / "cache")],
        cwd=ROOT,
        env={**os.environ, "MESSAGEHANDLER_CONNECTION_STRING": connection_string},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    assert seen["restored"] == {"acme": "Acme NV", "globex": "Globex"}
    assert seen["standing_query"] == [
        "Organization/acme v1 OrganizationRegistered",
        "Organization/acme v2 OrganizationRenamed",
        "Organization/globex v1 OrganizationRegistered",
    ]
    assert seen["relayed"] == ["failed=0", "Organization/acme v1", "Organization/acme v2", "Organization/globex v1"]
    assert seen["cached"] == [
        "acme: ['OrganizationRegistered', 'OrganizationRenamed']",
        "globex: ['OrganizationRegistered']",
    ]
    assert "Traceback" not in completed.stderr
