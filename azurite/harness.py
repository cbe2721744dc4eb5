"""Start and stop a private Azurite (Table + Queue + Blob) for tests, samples and benchmarks.

Each run gets its own free ports, in-memory storage and a log file, so parallel runs never share
state and a failed start can be diagnosed from the log. The processes run in their own process
group and the whole group is killed on exit, so no emulator outlives the run that started it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

AZURITE_DIR = Path(__file__).resolve().parent
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""The public, documented key of the emulator's well-known account; not a secret."""

_SERVICES = {"table": "tableHost", "queue": "queueHost", "blob": "blobHost"}
_COMMON_FLAGS = ("--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry")


class AzuriteError(RuntimeError):
    """Azurite could not be installed or started; the message points at its log."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def ensure_installed(directory: Path = AZURITE_DIR) -> Path:
    """Return the `node_modules/.bin` folder, running `npm ci` first when Azurite is not installed."""
    bin_dir = directory / "node_modules" / ".bin"
    if all((bin_dir / f"azurite-{service}").exists() for service in _SERVICES):
        return bin_dir
    npm = shutil.which("npm")
    if npm is None:
        raise AzuriteError("Azurite is not installed and npm is not on PATH: install Node.js 18+ and npm")
    result = subprocess.run(  # noqa: S603 - fixed arguments, npm from PATH
        [npm, "ci", "--no-audit", "--no-fund"], cwd=directory, capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not (bin_dir / "azurite-table").exists():
        raise AzuriteError(f"`npm ci` in {directory} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return bin_dir


@dataclass
class AzuriteProcess:
    """A running Azurite: its ports, connection string and log file."""

    table_port: int
    queue_port: int
    log_path: Path
    blob_port: int | None = None
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @property
    def table_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.table_port}/{ACCOUNT_NAME}"

    @property
    def queue_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.queue_port}/{ACCOUNT_NAME}"

    @property
    def blob_endpoint(self) -> str | None:
        return f"http://127.0.0.1:{self.blob_port}/{ACCOUNT_NAME}" if self.blob_port is not None else None

    @property
    def connection_string(self) -> str:
        blob = f"BlobEndpoint={self.blob_endpoint};" if self.blob_endpoint else ""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint={self.table_endpoint};QueueEndpoint={self.queue_endpoint};{blob}"
        )

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self._processes.clear()


def _spawn(bin_dir: Path, service: str, port: int, workspace: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    host_flag = _SERVICES[service]
    args = [
        str(bin_dir / f"azurite-{service}"),
        f"--{host_flag}",
        "127.0.0.1",
        f"--{service}Port",
        str(port),
        "--silent",
        *_COMMON_FLAGS,
    ]
    return subprocess.Popen(  # noqa: S603 - fixed arguments
        args, cwd=workspace, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )


def start_azurite(*, timeout: float = 60.0, attempts: int = 3) -> AzuriteProcess:
    """Start Azurite's table, queue and blob services on free ports and wait until all accept connections.

    A free port can be taken by someone else between probing and binding; a start that fails that
    way is retried on new ports.
    """
    bin_dir = ensure_installed()
    workspace = Path(tempfile.mkdtemp(prefix="messagehandler-azurite-"))
    log_path = workspace / "azurite.log"
    last_error = ""
    for _ in range(attempts):
        ports = {"table": _free_port(), "queue": _free_port(), "blob": _free_port()}
        azurite = AzuriteProcess(ports["table"], ports["queue"], log_path, blob_port=ports["blob"])
        with log_path.open("ab") as log:
            azurite._processes = [_spawn(bin_dir, service, port, workspace, log) for service, port in ports.items()]
        deadline = time.monotonic() + timeout
        pending = set(ports.values())
        while pending and time.monotonic() < deadline:
            if any(p.poll() is not None for p in azurite._processes):
                break
            pending = {port for port in pending if not _accepts(port)}
            if pending:
                time.sleep(0.05)
        if not pending:
            return azurite
        azurite.stop()
        last_error = azurite.log_tail()
        if "EADDRINUSE" not in last_error:
            break
    raise AzuriteError(f"Azurite did not start; log: {log_path}\n{last_error}")


@contextmanager
def running_azurite(*, timeout: float = 60.0) -> Iterator[AzuriteProcess]:
    """`with running_azurite() as azurite: ... azurite.connection_string` - stopped on exit, even on error.

    The log folder is removed after a clean exit and kept (its path printed) after an error.
    """
    azurite = start_azurite(timeout=timeout)
    try:
        yield azurite
    except BaseException:
        azurite.stop()
        print(f"Azurite log: {azurite.log_path}", file=sys.stderr)
        raise
    azurite.stop()
    shutil.rmtree(azurite.log_path.parent, ignore_errors=True)


__all__ = ["ACCOUNT_KEY", "ACCOUNT_NAME", "AzuriteError", "AzuriteProcess", "ensure_installed", "running_azurite"]
