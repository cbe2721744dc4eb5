"""Every Python block in README.md and docs/ runs, against the in-memory source or the session's Azurite.

Each page runs in a process of its own, in a folder of its own, with `MESSAGEHANDLER_CONNECTION_STRING`
pointing at the session's Azurite, emptied of tables and queues first, as on a fresh machine, and
`SERVICEBUS_CONNECTION_STRING` and `EVENTHUB_CONNECTION_STRING` at the suite's AMQP test broker (where
the event hub `telemetry` has four partitions), the local stand-in for a namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from messagehandler.testing.azurite import AzuriteProcess
from tests.docs.blocks import ROOT, blocks, pages
from tests.support.amqp_broker.broker import AmqpTestBroker, running_broker

RUNNABLE_PAGES = [page for page in pages() if any(b.skip_reason is None for b in blocks(page))]
pytestmark = pytest.mark.azurite


def empty(azurite: AzuriteProcess) -> None:
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

    with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        for table in list(tables.list_tables()):
            tables.delete_table(table.name)
    with QueueServiceClient.from_connection_string(azurite.connection_string) as queues:
        for queue in list(queues.list_queues()):
            queues.delete_queue(queue.name)


@pytest.fixture(scope="module")
def namespace() -> Iterator[AmqpTestBroker]:
    with running_broker(event_hubs={"telemetry": 4}) as running:
        yield running


def run(
    argv: list[str], cwd: Path, azurite: AzuriteProcess, namespace: AmqpTestBroker
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MESSAGEHANDLER_CONNECTION_STRING": azurite.connection_string,
        "SERVICEBUS_CONNECTION_STRING": namespace.connection_string(),
        "EVENTHUB_CONNECTION_STRING": namespace.connection_string(),
        "AZURITE_BIN_DIR": str(ROOT / "azurite" / "node_modules" / ".bin"),  # the kit's fixture finds it at once
        "PYTHONPATH": os.pathsep.join([str(cwd), str(ROOT)]),
    }
    return subprocess.run(  # noqa: S603 - fixed arguments
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE_PAGES])
def test_the_pages_python_blocks_run(
    page: Path, azurite: AzuriteProcess, namespace: AmqpTestBroker, tmp_path: Path
) -> None:
    empty(azurite)
    programs = []
    tests = []
    for block in blocks(page):
        if block.skip_reason is not None:
            continue
        if block.file_name is None:
            programs.append({"where": block.where, "code": block.code})
            continue
        target = tmp_path / block.file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.code)
        if target.name.startswith("test_"):
            tests.append(target)
    (tmp_path / "blocks.json").write_text(json.dumps(programs))

    ran = run(
        [sys.executable, str(Path(__file__).with_name("page_runner.py")), "blocks.json"], tmp_path, azurite, namespace
    )
    assert ran.returncode == 0, ran.stderr[-6000:]
    for test_file in tests:
        tested = run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
            tmp_path,
            azurite,
            namespace,
        )
        assert tested.returncode == 0, tested.stdout[-6000:] + tested.stderr[-3000:]


def test_every_skipped_block_tells_the_reader_why() -> None:
    skipped = [b for page in pages() for b in blocks(page) if b.skip_reason is not None]

    assert all(len(b.skip_reason or "") > 10 for b in skipped), [b.where for b in skipped]
