"""`--skip-bad-rows`: every command that reads a stream type stops at an unreadable row by default, naming it,
and with the option leaves its stream out and lists it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cache.support import ORG
from tests.cli.test_cli import env, run, store

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

__all__ = ["env", "store"]

pytestmark = pytest.mark.azurite

PROJECTION = "samples.organization.search:SearchEntryProjection"


@pytest.fixture
async def broken(azurite: AzuriteProcess, env: str) -> str:
    """Stream b's version 2 replaced by a row with no EventId, as a careless tool might write it."""
    from azure.data.tables.aio import TableClient

    async with TableClient.from_connection_string(azurite.connection_string, env) as table:
        await table.delete_entity(ORG, "b_0000000002")
        await table.create_entity({"PartitionKey": ORG, "RowKey": "b_0000000002", "SourceId": "b", "Body": "{}"})
    return env


def commands(tmp_path: Path) -> dict[str, list[str | Path]]:
    return {
        "stats": ["stats", ORG],
        "events": ["events", ORG],
        "replicate": ["replicate", ORG, "--cache", tmp_path / "cache", "--no-progress"],
        "restore": ["restore", ORG, "--projection", PROJECTION, "--index", tmp_path / "index.db"],
    }


@pytest.mark.parametrize("command", ["stats", "events", "replicate", "restore"])
def test_an_unreadable_row_stops_the_command_naming_it_unless_skipped(
    broken: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = commands(tmp_path)[command]

    code, _, err = run(capsys, *argv)

    assert code == 1
    assert "row 'Organization'/'b_0000000002'" in err
    assert "pass --skip-bad-rows" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, *argv, "--skip-bad-rows")
    assert code == 0
    assert "skipped 1 unreadable rows, leaving out 1 streams:" in err
    assert "b_0000000002" in err
    assert "has no EventId column" in err
