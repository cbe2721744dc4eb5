"""Worker processes for the tests: `messagehandler run` as a real subprocess, watched through its probes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
COMMAND = Path(sys.executable).with_name("messagehandler")
PYTHON_API = (
    "import sys; from messagehandler.worker import load_app, run; "
    "sys.exit(run(load_app(sys.argv[1]), health_host='127.0.0.1', health_port=int(sys.argv[2]), worker_id=sys.argv[3]))"
)
"""A program that runs an app with `messagehandler.worker.run(app)`, as an application's own `main` would."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def eventually(check: Callable[[], T | None], *, within: float = 30.0, what: str = "the condition") -> T:
    """Poll `check` until it returns something truthy, or fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within} s")
        time.sleep(0.1)


class WorkerProcess:
    """One `messagehandler run APP` process with its probes on `port`; its log is kept in a file.

    With `python_api` the process runs the app through `messagehandler.worker.run(app)` instead.
    """

    def __init__(
        self,
        app: str,
        env: dict[str, str],
        log: Path,
        *,
        worker_id: str,
        extra: list[str] = (),  # type: ignore[assignment]
        python_api: bool = False,
    ) -> None:
        self.port = free_port()
        self.worker_id = worker_id
        self.log = log
        if python_api:
            argv = [sys.executable, "-c", PYTHON_API, app, str(self.port), worker_id]
        else:
            argv = [str(COMMAND), "run", app, "--health-host", "127.0.0.1",
                    "--health-port", str(self.port), "--worker-id", worker_id, *extra]  # fmt: skip
        with log.open("wb") as handle:
            self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
                argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, stdout=handle, stderr=handle
            )

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def status(self) -> dict[str, Any] | None:
        """The /status document, None while the probes do not answer."""
        try:
            return self.get("/status")[1]  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def service(self, name: str) -> dict[str, Any] | None:
        status = self.status()
        if status is None:
            return None
        return next((service for service in status["services"] if service["name"] == name), None)

    def leads(self, name: str) -> bool:
        service = self.service(name)
        return bool(service and service["leader"])

    def wait_ready(self, within: float = 60.0) -> None:
        eventually(lambda: self.process.poll() is None and (self.status() or {}).get("ready"), within=within,
                   what=f"worker {self.worker_id} ready (log: {self.text()[-2000:]})")  # fmt: skip

    def terminate(self, number: int = signal.SIGTERM) -> None:
        self.process.send_signal(number)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def wait(self, within: float = 60.0) -> int:
        return self.process.wait(within)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def workers(app: str, env: dict[str, str], folder: Path, count: int, **options: Any) -> Iterator[list[WorkerProcess]]:
    """`count` worker processes of `app`; any still running at the end is killed."""
    started = [
        WorkerProcess(app, env, folder / f"worker-{n}.log", worker_id=f"worker-{n}", **options) for n in range(count)
    ]
    try:
        yield started
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.kill()
