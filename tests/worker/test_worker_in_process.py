"""The worker in this process: probes, status, logs, exit codes, and loading an app by name."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from datetime import timedelta

import aiohttp
import pytest

from messagehandler.channels.volatile.in_process import InProcessChannel
from messagehandler.errors import ConfigurationError
from messagehandler.processing import ProcessingHost, channel_source
from messagehandler.worker import (
    EXIT_CONFIGURATION,
    EXIT_FAILED,
    EXIT_OK,
    AppNotFoundError,
    LeaseTerm,
    Worker,
    WorkerApp,
    WorkerContext,
    load_app,
)
from messagehandler.worker.logs import configure_logging
from samples.processing.transformation import SummaryQuery
from tests.channels.support import SERIALIZER
from tests.processing.fakes import eventually

STRANDED = timedelta(0)
"""The relay's `min_age` here: these tests strand outbox rows themselves and relay them at once."""


def app_with_host_and_leased_work(ran: list[str]) -> WorkerApp:
    app = WorkerApp("demo", lease_duration=timedelta(seconds=1))

    @app.host(name="summaries", grace=timedelta(seconds=1))
    async def host(context: WorkerContext) -> ProcessingHost:
        source = channel_source(InProcessChannel("in"), wait=timedelta(milliseconds=20))

        async def ignore(outcome: object) -> None:
            return None

        return ProcessingHost(source, SERIALIZER).add(SummaryQuery(), ignore)

    @app.leased
    async def janitor(context: WorkerContext) -> object:
        async def work(term: LeaseTerm) -> None:
            ran.append(context.worker_id)
            await term.stopping.wait()

        return work

    return app


async def test_probes_and_status_follow_the_worker_from_start_to_stop() -> None:
    ran: list[str] = []
    worker = Worker(app_with_host_and_leased_work(ran), worker_id="w-1", health_port=0, health_host="127.0.0.1")
    stop = asyncio.Event()
    serving = asyncio.ensure_future(worker.serve(stop))
    await eventually(lambda: worker.ready and ran == ["w-1"], within=10)
    url = f"http://127.0.0.1:{worker.health.port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/readyz") as ready, session.get(f"{url}/healthz") as alive:
            assert (ready.status, alive.status) == (200, 200)
        async with session.get(f"{url}/status") as answer:
            status = await answer.json()
        assert status["worker"] == "w-1"
        assert [(s["name"], s["kind"], s["ready"]) for s in status["services"]] == [
            ("summaries", "host", True),
            ("janitor", "leased", True),
        ]
        assert status["services"][1]["leader"] is True

        stop.set()
        assert await serving == EXIT_OK
    assert not worker.ready
    with pytest.raises(aiohttp.ClientError):
        async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz"):
            pass


async def test_a_failing_service_stops_the_others_and_the_worker_says_so() -> None:
    app = WorkerApp("failing")
    stopped = asyncio.Event()

    @app.leased
    async def patient(context: WorkerContext) -> object:
        async def work(term: LeaseTerm) -> None:
            await term.stopping.wait()
            stopped.set()

        return work

    @app.leased
    async def broken(context: WorkerContext) -> object:
        async def work(term: LeaseTerm) -> None:
            raise RuntimeError("bug")

        return work

    worker = Worker(app, worker_id="w-2")

    assert await worker.serve(asyncio.Event()) == EXIT_FAILED
    assert stopped.is_set()
    assert worker.failed == ["broken"]
    assert not worker.alive


async def test_a_configuration_error_is_exit_code_two() -> None:
    app = WorkerApp("misconfigured")

    @app.host
    async def host(context: WorkerContext) -> ProcessingHost:
        raise ConfigurationError("no queue name")

    assert await Worker(app).serve(asyncio.Event()) == EXIT_CONFIGURATION


def test_declarations_are_checked() -> None:
    app = WorkerApp("checked")

    @app.relay
    async def outbox(context: WorkerContext) -> object:
        raise AssertionError

    with pytest.raises(ConfigurationError, match="two services named 'outbox'"):
        app.relay(outbox)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"declares no service 'search' \(declared: outbox\)"):
        app.service("search")
    with pytest.raises(ConfigurationError, match="declares no service"):
        Worker(WorkerApp("empty"))


def test_load_app_finds_the_app_or_says_why_not() -> None:
    assert load_app("tests.worker.apps.queue_app").name == "queue-test"
    with pytest.raises(AppNotFoundError, match="names no module"):
        load_app(":app")
    with pytest.raises(AppNotFoundError, match="is nothing, not a WorkerApp"):
        load_app("tests.worker.apps.queue_app:missing")


def test_json_logs_are_one_object_a_line_with_the_worker_id() -> None:
    stream = io.StringIO()
    configure_logging("w-9", log_format="json", stream=stream)
    try:
        logging.getLogger("messagehandler.worker").info("hello %s", "there")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("messagehandler.worker").exception("failed")
        configure_logging("w-9", stream=stream)
        logging.getLogger("messagehandler.worker").warning("as text")
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_messagehandler", False):
                logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    first, second, third = lines[0], lines[1], lines[-1]
    assert json.loads(first) | {"time": None} == {
        "time": None, "level": "INFO", "logger": "messagehandler.worker", "message": "hello there", "worker": "w-9"
    }  # fmt: skip
    assert "ValueError: boom" in json.loads(second)["exception"]
    assert third.endswith("WARNING [w-9] messagehandler.worker: as text")


async def test_a_durable_read_model_is_kept_caught_up_and_checkpointed_by_the_lease_holder(tmp_path: object) -> None:
    from messagehandler import InMemoryEventSource
    from messagehandler.projections import DurableReadModel, FileCheckpointStore, Projector
    from samples.organization.search import SearchEntry, SearchEntryProjection
    from tests.worker.test_rebuilds import register

    source = InMemoryEventSource()
    await register(source, "Acme")
    app = WorkerApp("durable")

    @app.read_model(interval=timedelta(milliseconds=20))
    async def entries(context: WorkerContext) -> DurableReadModel[SearchEntry]:
        return DurableReadModel(
            Projector(source, SearchEntryProjection),
            SearchEntry,
            "Organization",
            FileCheckpointStore(tmp_path),  # type: ignore[arg-type]
        )

    worker = Worker(app)
    stop = asyncio.Event()
    serving = asyncio.ensure_future(worker.serve(stop))
    await eventually(lambda: worker.status()["services"][0].get("events") == 1, within=10)
    await register(source, "Globex")
    await eventually(lambda: worker.status()["services"][0].get("events") == 2, within=10)
    stop.set()

    assert await serving == EXIT_OK
    reopened = DurableReadModel(
        Projector(source, SearchEntryProjection),
        SearchEntry,
        "Organization",
        FileCheckpointStore(tmp_path),  # type: ignore[arg-type]
    )
    assert (await reopened.open()).start.value == "checkpoint"
    assert sorted(record.name for record in reopened.records.values()) == ["Acme", "Globex"]


def test_the_commands_run_in_process(tmp_path: object) -> None:
    from messagehandler.cli.main import main

    assert main(["run", "tests.worker.apps.queue_app:broken", "--no-health"]) == EXIT_FAILED
    assert main(["rebuild", "tests.worker.apps.queue_app:app", "readings"]) == EXIT_CONFIGURATION


async def test_the_relay_runs_on_the_lease_holder_and_publishes_what_the_outbox_holds() -> None:
    from messagehandler import InMemoryEventSource
    from messagehandler.channels.dispatcher import Dispatcher
    from messagehandler.channels.relay import OutboxRelay
    from tests.worker.test_rebuilds import register

    source = InMemoryEventSource(outbox=True)
    await register(source, "Acme", "Globex")
    channel = InProcessChannel("out")
    app = WorkerApp("relaying")

    @app.relay(interval=timedelta(milliseconds=20))
    async def outbox(context: WorkerContext) -> OutboxRelay:
        dispatcher = Dispatcher().add_channel(channel)
        dispatcher.route("Organization").to("out")
        return OutboxRelay(source, dispatcher, min_age=STRANDED)

    worker = Worker(app)
    stop = asyncio.Event()
    serving = asyncio.ensure_future(worker.serve(stop))
    await eventually(lambda: worker.status()["services"][0].get("published") == 2, within=10)
    stop.set()

    assert await serving == EXIT_OK
    assert [entry async for entry in source.pending("Organization")] == []


@pytest.mark.parametrize("live", [False, True], ids=["checkpointed", "live"])
async def test_a_read_model_over_several_stream_types_runs_in_the_worker(tmp_path: object, live: bool) -> None:
    """A `MultiStreamReadModel` declared with `@app.read_model`: caught up, checkpointed, and (live) indexed."""
    from pathlib import Path

    from messagehandler import InMemoryEventSource
    from messagehandler.projections import FileCheckpointStore, Start
    from messagehandler.projections.live import LiveReadModel, live_index
    from messagehandler.search.providers import SqliteIndexes
    from samples.organization.domain import OrganizationRegistered
    from tests.projections.test_multi_stream import MemberJoined, OrganizationEntry, append, model

    folder = Path(str(tmp_path))
    source = InMemoryEventSource()
    await append(source, "Member", "ann", 1, MemberJoined(organization_id="acme", name="Ann"))
    await append(source, "Organization", "acme", 1, OrganizationRegistered(name="Acme"))
    app = WorkerApp("organizations")

    @app.read_model(interval=timedelta(milliseconds=20))
    async def organizations(context: WorkerContext) -> object:
        built = model(source, folder)
        return LiveReadModel("organizations", built, SqliteIndexes(OrganizationEntry, folder)) if live else built

    worker = Worker(app)
    stop = asyncio.Event()
    serving = asyncio.ensure_future(worker.serve(stop))
    await eventually(lambda: worker.status()["services"][0].get("events") == 2, within=10)
    await append(source, "Member", "bob", 1, MemberJoined(organization_id="acme", name="Bob"))
    await eventually(lambda: worker.status()["services"][0].get("events") == 3, within=10)
    assert worker.status()["services"][0]["streams"] == 3
    if live:  # switched in once a catch-up finds nothing new
        await eventually(lambda: worker.status()["services"][0].get("role") == "live", within=10)
    stop.set()

    assert await serving == EXIT_OK
    reopened = model(source, folder)
    if live:  # a live model's checkpoint is its version's own
        reopened = LiveReadModel("organizations", reopened, SqliteIndexes(OrganizationEntry, folder)).model
    assert (await reopened.open()).start is Start.CHECKPOINT
    assert reopened.records["acme"] == OrganizationEntry(name="Acme", members=["Ann", "Bob"])
    if live:
        index = await live_index(FileCheckpointStore(folder), "organizations", SqliteIndexes(OrganizationEntry, folder))
        assert index is not None
        try:
            assert [hit.record.members for hit in await index.search("acme")] == [["Ann", "Bob"]]
        finally:
            await index.close()
