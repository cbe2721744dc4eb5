"""The `messagehandler` command, run in process against Azurite and against cache directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from messagehandler import EventTypeRegistry
from messagehandler.cache import CacheReader
from messagehandler.cache.format import PAGE_HEADER, SEGMENT_HEADER
from messagehandler.cli.main import main
from messagehandler.cli.stats import HOURS_PER_MONTH
from tests.cache.support import ORG, fill, register

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

pytestmark = pytest.mark.azurite

KEY_FRAGMENT = "Eby8vdM02xNOcqFlqUwJPLlm"


@pytest.fixture
async def store(azurite: AzuriteProcess, table_name: str) -> AsyncIterator[str]:
    """A table holding Organization streams a (3 events), b (2) and Person x (1); yields the table name."""
    from azure.data.tables.aio import TableServiceClient

    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

    source = AzureTableStorageEventSource.from_connection_string(
        azurite.connection_string, table_name, registry=EventTypeRegistry()
    )
    register(source)
    await fill(source, {"a": 3, "b": 2})
    await fill(source, {"x": 1}, stream_type="Person")
    await source.close()
    yield table_name
    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        await service.delete_table(table_name)


@pytest.fixture
def env(azurite: AzuriteProcess, store: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MESSAGEHANDLER_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("MESSAGEHANDLER_TABLE", store)
    return store


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert KEY_FRAGMENT not in out + err
    return code, out, err


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_replicate_copies_the_types_and_a_second_run_finds_nothing_new(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "replicate", ORG, "Person", "--cache", tmp_path)

    assert code == 0
    assert "Organization: 5 new events in 2 streams" in out
    assert "replicated 6 events (seq 1..6)" in out
    assert [e.stream_id for e in CacheReader(tmp_path).events()] == ["a", "a", "a", "b", "b", "x"]
    code, out, _ = run(capsys, "replicate", ORG, "--cache", tmp_path)
    assert code == 0
    assert "replicated 0 events (nothing new)" in out


def test_events_prints_a_stream_as_json_lines_with_the_body_embedded(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "events", ORG, "a", "--from-version", "2")

    assert code == 0
    printed = lines(out)
    assert [(e["stream_id"], e["version"], e["event_type"]) for e in printed] == [
        ("a", 2, "OrganizationRenamed"), ("a", 3, "OrganizationRenamed")
    ]  # fmt: skip
    assert printed[0]["body"] == {"name": "a 2"}
    assert printed[0]["stored_at"] is not None


def test_events_tail_prints_the_latest_events_of_a_type_in_commit_order(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "events", ORG, "--tail", "3")

    assert code == 0
    assert [(e["stream_id"], e["version"]) for e in lines(out)] == [("a", 3), ("b", 1), ("b", 2)]


def test_events_read_a_cache_after_a_sequence_number(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "replicate", ORG, "--cache", tmp_path)

    code, out, _ = run(capsys, "events", ORG, "--cache", tmp_path, "--after", "3", "--tail", "10")

    assert code == 0
    assert [(e["seq"], e["stream_id"]) for e in lines(out)] == [(4, "b"), (5, "b")]


@pytest.mark.parametrize("from_cache", [False, True])
def test_stats_reports_bytes_the_biggest_event_and_the_growth_estimate(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], from_cache: bool
) -> None:
    where: list[str | Path] = []
    if from_cache:
        run(capsys, "replicate", ORG, "Person", "--cache", tmp_path)
        where = ["--cache", tmp_path]

    code, out, _ = run(capsys, "stats", ORG, "Person", "--json", *where)

    assert code == 0
    report = json.loads(out)
    org = report["types"][0]
    assert (org["events"], org["streams"]) == (5, 2)
    assert org["biggest_event"]["event_type"] == "OrganizationRegistered"
    assert org["json_bytes"] < org["row_bytes"]
    assert org["peak_events_per_hour"] in range(1, 6)
    assert (
        org["growth_bytes_per_month"] == org["biggest_event"]["bytes"] * org["peak_events_per_hour"] * HOURS_PER_MONTH
    )
    assert report["total"]["events"] == 6


def test_stats_text_names_the_formula(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "stats", ORG)

    assert code == 0
    assert "biggest event x peak events/hour x 24 x 30" in out


@pytest.mark.parametrize("command", [["events", "Nope"], ["stats", "Nope"], ["replicate", "Nope", "--cache", "."]])
def test_an_unknown_stream_type_is_bad_input(env: str, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, _, err = run(capsys, *command)

    assert code == 2
    assert "stream type 'Nope' has no streams" in err


@pytest.mark.parametrize("command", [["events", ORG], ["stats", ORG], ["replicate", ORG, "--cache", "."]])
def test_a_missing_table_is_explained_in_the_commands_own_terms(
    env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("MESSAGEHANDLER_TABLE", "NoSuchTable")

    code, _, err = run(capsys, *command)

    assert code == 2
    assert "table 'NoSuchTable' does not exist" in err
    assert "--table (or $MESSAGEHANDLER_TABLE)" in err
    assert "create_table" not in err


def test_an_unknown_type_in_a_cache_lists_the_cached_types(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "replicate", ORG, "--cache", tmp_path)

    code, _, err = run(capsys, "events", "Nope", "--cache", tmp_path)

    assert code == 2
    assert "it holds: Organization" in err


def test_an_unreadable_cache_fails_naming_the_file_and_offset(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "replicate", ORG, "--cache", tmp_path)
    segment = tmp_path / "segment-00000001.mhc"
    data = bytearray(segment.read_bytes())
    data[SEGMENT_HEADER.size + PAGE_HEADER.size + 2] ^= 0xFF
    segment.write_bytes(bytes(data))

    code, _, err = run(capsys, "stats", ORG, "--cache", tmp_path)

    assert code == 1
    assert f"{segment} is corrupt at byte offset {SEGMENT_HEADER.size}" in err
    code, out, _ = run(capsys, "replicate", ORG, "--cache", tmp_path, "--repair")
    assert code == 0
    assert "repaired 1 damaged pages" in out
    assert run(capsys, "stats", ORG, "--cache", tmp_path)[0] == 0


def test_a_directory_without_a_cache_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "events", ORG, "--cache", tmp_path)

    assert code == 1
    assert "no manifest.json" in err


def test_a_malformed_connection_string_is_bad_input_and_never_echoed(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "AccountName=x;AccountKey=c2VjcmV0LXZhbHVl;Nonsense"

    code, out, err = run(capsys, "events", ORG, "--connection-string", secret)

    assert code == 2
    assert "connection string" in err
    assert "c2VjcmV0LXZhbHVl" not in out + err


def test_a_wrong_key_is_reported_without_the_key(
    azurite: AzuriteProcess, env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = azurite.connection_string.replace(KEY_FRAGMENT, "AAAAAAAAAAAAAAAAAAAAAAAA")

    code, out, err = run(capsys, "stats", ORG, "--connection-string", wrong)

    assert code == 2
    assert "AccessDeniedError" not in err  # a message, not a traceback
    assert "check the account key" in err
    assert "Traceback" not in err
    assert err.count("AuthorizationFailure") <= 1
    assert "AAAAAAAAAAAAAAAAAAAAAAAA" not in out + err


@pytest.mark.parametrize("tail", ["0", "-3", "many"])
def test_a_bad_tail_is_a_usage_error(capsys: pytest.CaptureFixture[str], tail: str) -> None:
    code, _, err = run(capsys, "events", ORG, "--tail", tail)

    assert code == 2
    assert "expected a whole number >= 1" in err


def test_missing_settings_are_named(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESSAGEHANDLER_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)

    code, _, err = run(capsys, "stats", ORG)

    assert code == 2
    assert "MESSAGEHANDLER_CONNECTION_STRING" in err


def test_the_azure_sdks_variable_is_the_fallback(
    env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, azurite: AzuriteProcess
) -> None:
    monkeypatch.delenv("MESSAGEHANDLER_CONNECTION_STRING")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)

    code, out, _ = run(capsys, "stats", ORG, "--json")

    assert code == 0
    assert json.loads(out)["total"]["events"] == 5


def test_the_console_script_replicates_in_a_subprocess(env: str, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("messagehandler")
    result = subprocess.run(  # noqa: S603 - our own console script
        [str(script), "replicate", ORG, "--cache", str(tmp_path)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "replicated 5 events" in result.stdout
    assert KEY_FRAGMENT not in result.stdout + result.stderr
    assert sum(1 for _ in CacheReader(tmp_path).events()) == 5
