"""Running a `WorkerApp`: start its services, serve the probes, stop gracefully on SIGTERM.

Exit codes, for the orchestrator's restart policy:

| code | meaning |
|---|---|
| 0 | stopped by SIGTERM or SIGINT: in-flight messages finished or released, leases released |
| 1 | a service failed (the log says which and why): restart the worker |
| 2 | the application cannot run as declared: bad `module:attribute`, bad configuration, missing extra |
| 130, 143 | a second SIGINT or SIGTERM during shutdown: stopped at once (128 + the signal number) |
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from typing import Any

from messagehandler.errors import ConfigurationError
from messagehandler.worker.app import WorkerApp
from messagehandler.worker.context import WorkerContext, default_worker_id
from messagehandler.worker.errors import AppNotFoundError, ServiceFailedError
from messagehandler.worker.leases import MemoryLeaseStore
from messagehandler.worker.logs import LogFormat, configure_logging
from messagehandler.worker.services import Service

logger = logging.getLogger("messagehandler.worker")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIGURATION = 2
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - probes come from outside the container


def load_app(spec: str) -> WorkerApp:
    """The `WorkerApp` that `module:attribute` names (the attribute defaults to `app`).

    Raises:
        AppNotFoundError: the module cannot be imported, or the attribute is missing or no `WorkerApp`.
    """
    module_name, _, attribute = spec.partition(":")
    attribute = attribute or "app"
    if not module_name:
        raise AppNotFoundError(f"{spec!r} names no module: write MODULE:ATTRIBUTE, e.g. myapp.processing:app")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # as `python -m` does: the application's package is found from the working folder
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not module_name.startswith(error.name):
            raise
        raise AppNotFoundError(
            f"cannot import module {module_name!r} ({error}); run from the folder that holds it"
        ) from None
    app = getattr(module, attribute, None)
    if not isinstance(app, WorkerApp):
        found = "nothing" if app is None else type(app).__name__
        raise AppNotFoundError(f"{module_name}:{attribute} is {found}, not a WorkerApp")
    return app


class Worker:
    """Runs every service of `app` until `stop` is set (or a service fails); see the module docstring."""

    def __init__(
        self,
        app: WorkerApp,
        *,
        worker_id: str | None = None,
        health_port: int | None = None,
        health_host: str = ALL_INTERFACES,
    ) -> None:
        if not app.services:
            raise ConfigurationError(f"app {app.name!r} declares no service: nothing to run")
        self.app = app
        self.worker_id = worker_id or default_worker_id()
        self.health_port = health_port
        self.health_host = health_host
        self.stopping = False
        self.failed: list[str] = []
        self.started = False
        self.health: Any = None
        self.hard_exit: int | None = None

    @property
    def alive(self) -> bool:
        return not self.failed

    @property
    def ready(self) -> bool:
        return self.started and not self.stopping and not self.failed and all(s.ready for s in self.app.services)

    def status(self) -> dict[str, Any]:
        return {
            "app": self.app.name,
            "worker": self.worker_id,
            "ready": self.ready,
            "stopping": self.stopping,
            "failed": self.failed,
            "services": [service.status() for service in self.app.services],
        }

    async def serve(self, stop: asyncio.Event) -> int:
        """Run until `stop` is set or a service fails; the exit code (see the module docstring)."""
        context = WorkerContext(self.app.name, self.worker_id, MemoryLeaseStore())
        try:
            await self._start_health()
            context = await self.app.open_context(self.worker_id)
            logger.info(
                "worker %s: running app %r (%d services)", self.worker_id, self.app.name, len(self.app.services)
            )
            tasks = {asyncio.ensure_future(self._run(service, context, stop)): service for service in self.app.services}
            self.started = True
            waiter = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            self.stopping = True
            if not stop.is_set():
                logger.error("worker %s: stopping because a service failed", self.worker_id)
            else:
                logger.info("worker %s: stopping", self.worker_id)
            stop.set()
            waiter.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self.stopping = True
            await context.aclose()
            await self._stop_health()
        return _exit_code(outcomes)

    async def _run(self, service: Service, context: WorkerContext, stop: asyncio.Event) -> None:
        try:
            await service.run(context, stop)
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            self.failed.append(service.name)
            logger.error("service %r failed", service.name, exc_info=error)
            if isinstance(error, ConfigurationError):
                raise
            raise ServiceFailedError(service.name, error) from error
        finally:
            service.ready = False

    async def _start_health(self) -> None:
        if self.health_port is None:
            return
        from messagehandler.worker.health import HealthServer

        self.health = HealthServer(
            alive=lambda: self.alive, ready=lambda: self.ready, status=self.status,
            host=self.health_host, port=self.health_port,
        )  # fmt: skip
        await self.health.start()
        logger.info("worker %s: probes on http://%s:%d (/healthz, /readyz, /status)", self.worker_id,
                    self.health_host, self.health.port)  # fmt: skip

    async def _stop_health(self) -> None:
        if self.health is not None:
            await self.health.stop()


def _exit_code(outcomes: list[Any]) -> int:
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if any(isinstance(error, ConfigurationError) for error in errors):
        return EXIT_CONFIGURATION
    return EXIT_FAILED if errors else EXIT_OK


def run(
    app: WorkerApp,
    *,
    health_port: int | None = 8080,
    health_host: str = ALL_INTERFACES,
    worker_id: str | None = None,
    log_level: str = "INFO",
    log_format: LogFormat = "text",
) -> int:
    """Run `app` in this process until SIGTERM or SIGINT, as `messagehandler run` does; returns the exit code."""
    worker = Worker(app, worker_id=worker_id, health_port=health_port, health_host=health_host)
    configure_logging(worker.worker_id, level=log_level, log_format=log_format)
    return asyncio.run(serve_until_signalled(worker))


async def serve_until_signalled(worker: Worker) -> int:
    """`worker.serve` with SIGTERM and SIGINT as the stop signal (a second one stops at once)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    serving = asyncio.ensure_future(worker.serve(stop))

    def on_signal(number: int) -> None:
        if stop.is_set():
            logger.warning("worker %s: second %s, stopping at once", worker.worker_id, signal.Signals(number).name)
            serving.cancel()
            worker.hard_exit = 128 + number
            return
        logger.info("worker %s: %s received, shutting down gracefully", worker.worker_id, signal.Signals(number).name)
        stop.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, on_signal, number)
    try:
        return await serving
    except asyncio.CancelledError:
        return worker.hard_exit or 130
    finally:
        for number in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(number)
