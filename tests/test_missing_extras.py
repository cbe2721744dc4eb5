"""Every optional integration imported without its extra names the extra; the command's help needs none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = ("azure", "aiohttp", "yarl", "reactivex", "msgpack", "lz4", "tqdm", "pytest_asyncio")

INTEGRATIONS = [
    ("messagehandler.eventsource.azure_tables", ("azure",), "azure-tables"),
    ("messagehandler.eventsource.azure_tables", ("aiohttp",), "azure-tables"),
    ("messagehandler.projections.table_store", ("azure",), "azure-tables"),
    ("messagehandler.channels.transactional.storage_queue", ("azure",), "storage-queue"),
    ("messagehandler.channels.transactional.storage_queue_receiver", ("azure",), "storage-queue"),
    ("messagehandler.channels.transactional.servicebus", ("azure.servicebus",), "servicebus"),
    ("messagehandler.channels.transactional.servicebus_receiver", ("azure.servicebus",), "servicebus"),
    ("messagehandler.channels.streaming.eventhubs", ("azure.eventhub",), "eventhubs"),
    ("messagehandler.channels.streaming.eventhubs_receiver", ("azure.eventhub",), "eventhubs"),
    ("messagehandler.channels.volatile.eventgrid", ("azure.eventgrid",), "eventgrid"),
    ("messagehandler.channels.volatile.webhook", ("aiohttp",), "webhook"),
    ("messagehandler.search.azure_search", ("azure.search",), "search"),
    ("messagehandler.search.azure_indexes", ("azure.search",), "search"),
    ("messagehandler.processing", ("reactivex",), "processing"),
    ("messagehandler.processing.host", ("reactivex",), "processing"),
    ("messagehandler.worker.health", ("aiohttp",), "worker"),
    ("messagehandler.functions", ("azure.functions",), "functions"),
    ("messagehandler.cache", ("lz4",), "cache"),
    ("messagehandler.cache", ("msgpack",), "cache"),
    ("messagehandler.testing.event_source", ("pytest_asyncio",), "testing"),
    ("messagehandler.personal", ("cryptography",), "personal"),
    ("messagehandler.personal.keyvault", ("azure.keyvault",), "keyvault"),
    ("messagehandler.personal.table_store", ("azure",), "azure-tables"),
]


def run_blocked(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter where importing any of `blocked` fails, as if it were not installed."""
    prelude = f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
    return subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", prelude + code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(("module", "blocked", "extra"), INTEGRATIONS, ids=[f"{m}-{b[0]}" for m, b, _ in INTEGRATIONS])
def test_importing_an_integration_without_its_extra_names_the_extra(
    module: str, blocked: tuple[str, ...], extra: str
) -> None:
    completed = run_blocked(
        blocked,
        f"from messagehandler.errors import MissingExtraError\n"
        f"try:\n    import {module}\nexcept MissingExtraError as error:\n    print(error)\n"
        f"else:\n    print('imported')\n",
    )

    assert completed.returncode == 0, completed.stderr
    assert f'pip install "messagehandler-azure[{extra}]"' in completed.stdout


def test_the_core_imports_without_any_extra() -> None:
    completed = run_blocked(OPTIONAL, "import messagehandler, messagehandler.testing; print('ok')")

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_help_and_version_work_without_any_extra() -> None:
    help_run = run_blocked(OPTIONAL, "from messagehandler.cli.main import main\nsys.exit(main(['--help']))")
    version_run = run_blocked(OPTIONAL, "from messagehandler.cli.main import main\nsys.exit(main(['--version']))")
    command_help = run_blocked(
        OPTIONAL, "from messagehandler.cli.main import main\nsys.exit(main(['restore', '--help']))"
    )

    assert help_run.returncode == 0, help_run.stderr
    assert "replicate" in help_run.stdout
    assert "restore" in help_run.stdout
    assert version_run.returncode == 0, version_run.stderr
    assert version_run.stdout.startswith("messagehandler 0.")
    assert command_help.returncode == 0, command_help.stderr
    assert "--projection" in command_help.stdout


def test_a_command_without_the_cli_extra_says_which_extra_to_install() -> None:
    completed = run_blocked(
        ("lz4", "msgpack", "tqdm"),
        "from messagehandler.cli.main import main\nsys.exit(main(['stats', 'Organization', '--table', 't']))",
    )

    assert completed.returncode == 2
    assert 'pip install "messagehandler-azure[cli]"' in completed.stderr
    assert "Traceback" not in completed.stderr
