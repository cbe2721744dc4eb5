"""Start and stop a private Azurite (Table + Queue + Blob) for tests, samples and benchmarks.

Each run gets its own free ports, in-memory storage and a log file, so parallel runs never share
state and a failed start can be diagnosed from the log. The processes run in their own process
group and the whole group is killed on exit, so no emulator outlives the run that started it.

Azurite is an npm package. `find_azurite` looks for it where a project usually has it, in order:
`$AZURITE_BIN_DIR`, `node_modules/.bin` or `azurite/node_modules/.bin` under the given folders (the
pytest plugin passes the project's root), the `azurite-table` command on PATH (`npm install -g
azurite`), and finally `npx`, which fetches the pinned version on first use. When none is there, the
error says how to install it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from messagehandler.errors import ConfigurationError

AZURITE_VERSION = "3.37.0"
"""The version `npx` runs when Azurite is not installed; the project's own tests pin the same in azurite/."""
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""The public, documented key of the emulator's well-known account; not a secret."""

_SERVICES = {"table": "tableHost", "queue": "queueHost", "blob": "blobHost"}
_COMMON_FLAGS = ("--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry")


class AzuriteError(ConfigurationError, RuntimeError):
    """Azurite is not installed (the message says how to install it) or did not start (it points at its log)."""


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


_INSTALL_HELP = (
    "Azurite (the Azure Storage emulator, an npm package) was not found: install Node.js 18+ and then "
    "`npm install -g azurite` (or `npm install --save-dev azurite` in your project), or make `npx` available; "
    "or point $AZURITE_BIN_DIR at a folder holding azurite-table, azurite-queue and azurite-blob"
)


@dataclass(frozen=True)
class AzuriteCommand:
    """How to run each Azurite service: `prefix + [f"azurite-{service}"]`, or the full path to it."""

    where: str
    bin_dir: Path | None = None
    npx: str | None = None

    def argv(self, service: str) -> list[str]:
        if self.bin_dir is not None:
            return [str(self.bin_dir / f"azurite-{service}")]
        assert self.npx is not None
        return [self.npx, "--yes", "--package", f"azurite@{AZURITE_VERSION}", f"azurite-{service}"]


def _has_services(bin_dir: Path) -> bool:
    return all((bin_dir / f"azurite-{service}").exists() for service in _SERVICES)


def find_azurite(search: Sequence[Path] | None = None) -> AzuriteCommand:
    """Where Azurite is: a local install under `search` (default: the current folder), a global one on PATH, or npx.

    Raises:
        AzuriteError: none of them is there; the message says how to install Azurite.
    """
    candidates: list[Path] = []
    if configured := os.environ.get("AZURITE_BIN_DIR"):
        candidates.append(Path(configured))
    for folder in search if search is not None else [Path.cwd()]:
        candidates += [folder / "node_modules" / ".bin", folder / "azurite" / "node_modules" / ".bin"]
    for bin_dir in candidates:
        if _has_services(bin_dir):
            return AzuriteCommand(f"local install in {bin_dir}", bin_dir=bin_dir)
    on_path = shutil.which("azurite-table")
    if on_path is not None and _has_services(Path(on_path).parent):
        return AzuriteCommand(f"global install in {Path(on_path).parent}", bin_dir=Path(on_path).parent)
    npx = shutil.which("npx")
    if npx is not None:
        return AzuriteCommand(f"npx azurite@{AZURITE_VERSION}", npx=npx)
    raise AzuriteError(_INSTALL_HELP)


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


def _spawn(
    command: AzuriteCommand, service: str, port: int, workspace: Path, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    host_flag = _SERVICES[service]
    args = [
        *command.argv(service),
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


def start_azurite(*, search: Sequence[Path] | None = None, timeout: float = 120.0, attempts: int = 3) -> AzuriteProcess:
    """Start Azurite's table, queue and blob services on free ports and wait until all accept connections.

    A free port can be taken by someone else between probing and binding; a start that fails that
    way is retried on new ports. `search` lists folders that may hold a local install (see `find_azurite`).

    Raises:
        AzuriteError: Azurite is not installed, or did not start (the message holds its log's tail).
    """
    command = find_azurite(search)
    workspace = Path(tempfile.mkdtemp(prefix="messagehandler-azurite-"))
    log_path = workspace / "azurite.log"
    last_error = ""
    for _ in range(attempts):
        ports = {"table": _free_port(), "queue": _free_port(), "blob": _free_port()}
        azurite = AzuriteProcess(ports["table"], ports["queue"], log_path, blob_port=ports["blob"])
        with log_path.open("ab") as log:
            azurite._processes = [_spawn(command, service, port, workspace, log) for service, port in ports.items()]
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
    raise AzuriteError(f"Azurite ({command.where}) did not start; log: {log_path}\n{last_error}")


@contextmanager
def running_azurite(*, search: Sequence[Path] | None = None, timeout: float = 120.0) -> Iterator[AzuriteProcess]:
    """`with running_azurite() as azurite: ... azurite.connection_string` - stopped on exit, even on error.

    The log folder is removed after a clean exit and kept (its path printed) after an error.
    """
    azurite = start_azurite(search=search, timeout=timeout)
    try:
        yield azurite
    except BaseException:
        azurite.stop()
        print(f"Azurite log: {azurite.log_path}", file=sys.stderr)
        raise
    azurite.stop()
    shutil.rmtree(azurite.log_path.parent, ignore_errors=True)


CONNECTION_STRING_ENV = "MESSAGEHANDLER_CONNECTION_STRING"


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(search: Sequence[Path] | None = None) -> None:
    """Run a private Azurite until Ctrl+C or SIGTERM, printing the line that points an application at it.

    `python -m messagehandler.testing.azurite` prints `MESSAGEHANDLER_CONNECTION_STRING=...`; export it in
    the shell that runs the application (or the `messagehandler` command). Azurite stops with this process,
    whichever way it ends.
    """
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with running_azurite(search=search) as azurite:
        print(f"{CONNECTION_STRING_ENV}={azurite.connection_string}", flush=True)
        print(f"log: {azurite.log_path}  (Ctrl+C stops Azurite)", flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


__all__ = [
    "ACCOUNT_KEY",
    "ACCOUNT_NAME",
    "AZURITE_VERSION",
    "CONNECTION_STRING_ENV",
    "AzuriteCommand",
    "AzuriteError",
    "AzuriteProcess",
    "find_azurite",
    "main",
    "running_azurite",
    "start_azurite",
]


if __name__ == "__main__":
    main()
