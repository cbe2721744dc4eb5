"""Zero-downtime rebuilds: a new version is built beside the live one, switched in at once, the old one dropped."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from messagehandler import AggregateRepository, EventSource, EventTypeRegistry, InMemoryEventSource
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.projections import FileCheckpointStore
from messagehandler.projections.live import live_index, read_alias
from messagehandler.search.providers import SqliteIndexes
from messagehandler.worker import MemoryLeaseStore, Worker, WorkerError
from messagehandler.worker.rebuild import rebuild
from samples.organization.domain import Organization, OrganizationRegistered, OrganizationRenamed
from samples.organization.search import SearchEntry
from tests.processing.fakes import eventually
from tests.worker.apps.search_app import build_app
from tests.worker.support import COMMAND, ROOT

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess


async def register(source: EventSource, *names: str) -> None:
    repository = AggregateRepository(source)
    for name in names:
        organization = await repository.get(Organization, name.lower())
        organization.register(name)
    await repository.flush()


async def live_names(folder: Path) -> list[str] | None:
    index = await live_index(
        FileCheckpointStore(folder), "organizations", SqliteIndexes(SearchEntry, folder / "indexes")
    )
    if index is None:
        return None
    try:
        return sorted(result.record.name for result in await index.search("*", top=100))
    finally:
        await index.close()


async def test_a_new_version_is_built_beside_the_live_one_switched_in_and_the_old_one_dropped(tmp_path: Path) -> None:
    source = InMemoryEventSource(EventTypeRegistry([OrganizationRegistered, OrganizationRenamed]))
    await register(source, "Acme", "Globex")
    leases = MemoryLeaseStore()
    store = FileCheckpointStore(tmp_path)
    old = Worker(build_app(lambda context: source, tmp_path, "1", leases), worker_id="old")
    old_stop = asyncio.Event()
    old_run = asyncio.ensure_future(old.serve(old_stop))
    await eventually(lambda: old.status()["services"][0].get("role") == "live", within=10)
    first = (await read_alias(store, "organizations")).live
    assert await live_names(tmp_path) == ["Acme", "Globex"]

    new = Worker(build_app(lambda context: source, tmp_path, "2", leases), worker_id="new")
    new_stop = asyncio.Event()
    new_run = asyncio.ensure_future(new.serve(new_stop))
    await eventually(lambda: new.status()["services"][0].get("role") == "live", within=10)

    alias = await read_alias(store, "organizations")
    assert alias.live != first
    assert alias.retired == [first]
    assert not (tmp_path / "indexes" / f"organizations-{first}.sqlite").exists()
    await eventually(lambda: old.status()["services"][0].get("role") == "retired", within=10)
    await register(source, "Initech")
    await asyncio.sleep(0)
    deadline = asyncio.get_running_loop().time() + 10
    while await live_names(tmp_path) != ["Acme", "Globex", "Initech"]:
        assert asyncio.get_running_loop().time() < deadline, "the new version did not catch up"
        await asyncio.sleep(0.05)

    old_stop.set()
    assert await old_run == 0
    again = Worker(build_app(lambda context: source, tmp_path, "1", leases), worker_id="old-again")
    again_stop = asyncio.Event()
    again_run = asyncio.ensure_future(again.serve(again_stop))
    await eventually(lambda: again.status()["services"][0].get("role") == "retired", within=10)
    assert (await read_alias(store, "organizations")).live == alias.live, "old code never switches back"
    for stop in (new_stop, again_stop):
        stop.set()
    assert await asyncio.gather(new_run, again_run) == [0, 0]


async def test_the_cli_helper_builds_and_switches_or_refuses_a_retired_version(tmp_path: Path) -> None:
    source = InMemoryEventSource(EventTypeRegistry([OrganizationRegistered, OrganizationRenamed]))
    await register(source, "Acme")
    reports: list[dict[str, object]] = []

    first = await rebuild(build_app(lambda context: source, tmp_path, "1"), "organizations", reports.append)
    second = await rebuild(build_app(lambda context: source, tmp_path, "2"), "organizations", reports.append)
    same = await rebuild(build_app(lambda context: source, tmp_path, "2"), "organizations", reports.append)

    assert (first.built_here, first.replaced) == (True, None)
    assert (second.built_here, second.replaced) == (True, first.version)
    assert same.built_here is False
    assert reports[-1] == {"version": second.version, "state": "live"}
    assert {"catching up", "switched"} <= {str(report["state"]) for report in reports}
    assert await live_names(tmp_path) == ["Acme"]
    with pytest.raises(WorkerError, match="was replaced by a newer one"):
        await rebuild(build_app(lambda context: source, tmp_path, "1"), "organizations", reports.append)


@pytest.fixture
async def table(azurite: AzuriteProcess) -> AsyncIterator[AzureTableStorageEventSource]:
    name = f"orgs{uuid.uuid4().hex[:10]}"
    registry = EventTypeRegistry([OrganizationRegistered, OrganizationRenamed])
    async with AzureTableStorageEventSource.from_connection_string(
        azurite.connection_string, name, registry=registry
    ) as source:
        yield source
        await source.table_client.delete_table()


@pytest.mark.azurite
async def test_messagehandler_rebuild_starts_a_rebuild_and_watch_follows_it(
    azurite: AzuriteProcess,
    table: AzureTableStorageEventSource,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from messagehandler.cli.main import main

    await register(table, "Acme", "Globex")
    env = {"MESSAGEHANDLER_CONNECTION_STRING": azurite.connection_string, "TEST_TABLE": table.table_client.table_name,
           "TEST_FOLDER": str(tmp_path), "PYTHONPATH": str(ROOT)}  # fmt: skip

    def command(*args: str, schema: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed arguments
            [str(COMMAND), *args], cwd=ROOT, env={**__import__("os").environ, **env, "TEST_SCHEMA": schema},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    started = command("rebuild", "tests.worker.apps.search_app:app", "organizations", schema="7")
    watched = command("rebuild", "tests.worker.apps.search_app:app", "organizations", "--watch", schema="7")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TEST_SCHEMA", "8")
    assert await asyncio.to_thread(main, ["rebuild", "tests.worker.apps.search_app:app", "organizations"]) == 0
    assert (
        await asyncio.to_thread(main, ["rebuild", "tests.worker.apps.search_app:app", "organizations", "--watch"]) == 0
    )
    assert "version" in capsys.readouterr().out

    assert started.returncode == 0, started.stderr
    assert "catching up (2 events, 2 streams, 2 records)" in started.stderr
    assert started.stdout.strip().endswith("is live")
    assert watched.returncode == 0, watched.stderr
    assert ": live" in watched.stderr
    assert await live_names(tmp_path) == ["Acme", "Globex"]


async def test_a_rebuild_the_lease_holder_runs_is_watched_until_it_is_live(tmp_path: Path) -> None:
    source = InMemoryEventSource(EventTypeRegistry([OrganizationRegistered, OrganizationRenamed]))
    await register(source, "Acme")
    leases = MemoryLeaseStore()
    app = build_app(lambda context: source, tmp_path, "1", leases)
    service = app.service("organizations")
    holder = leases.lease(f"readmodel-organizations-{(await _version(app))}", "someone", timedelta(seconds=30))
    assert await holder.acquire()
    seen: list[dict[str, object]] = []

    watching = asyncio.ensure_future(rebuild(app, "organizations", seen.append, poll=0.01))
    await eventually(lambda: any(report["state"] == "building on someone" for report in seen))
    await holder.release()
    built = await rebuild(build_app(lambda context: source, tmp_path, "1", leases), "organizations", lambda _: None)
    outcome = await asyncio.wait_for(watching, 10)

    assert built.built_here
    assert not outcome.built_here
    assert seen[-1]["state"] == "live"
    assert service.name == "organizations"


async def _version(app: object) -> str:
    from messagehandler.worker.rebuild import context_for, open_live_model

    context = await context_for(app)  # type: ignore[arg-type]
    try:
        _, live = await open_live_model(app, "organizations", context)  # type: ignore[arg-type]
        return live.version
    finally:
        await context.aclose()


async def test_watch_reports_progress_until_live_and_refuses_a_retired_version(tmp_path: Path) -> None:
    from messagehandler.projections.live import Alias
    from messagehandler.worker.rebuild import watch

    source = InMemoryEventSource(EventTypeRegistry([OrganizationRegistered, OrganizationRenamed]))
    await register(source, "Acme")
    old = await rebuild(build_app(lambda context: source, tmp_path, "1"), "organizations", lambda _: None)
    version = await _version(build_app(lambda context: source, tmp_path, "2"))
    progress = {"version": version, "state": "catching up", "events": 1}
    await FileCheckpointStore(tmp_path).write(
        "organizations.alias", Alias(live=old.version, building=progress).to_bytes()
    )
    seen: list[dict[str, object]] = []

    watching = asyncio.ensure_future(
        watch(build_app(lambda context: source, tmp_path, "2"), "organizations", seen.append, poll=0.01)
    )
    await eventually(lambda: seen == [progress])
    await rebuild(build_app(lambda context: source, tmp_path, "2"), "organizations", lambda _: None)
    await asyncio.wait_for(watching, 10)

    assert seen[-1]["state"] == "live"
    with pytest.raises(WorkerError, match="was retired"):
        await watch(build_app(lambda context: source, tmp_path, "1"), "organizations", seen.append, poll=0.01)
