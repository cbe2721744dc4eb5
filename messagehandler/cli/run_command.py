"""`messagehandler run MODULE:ATTRIBUTE`: host a `WorkerApp` until SIGTERM (see `messagehandler.worker.runner`)."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any, TextIO

from messagehandler.cli.settings import Redactor


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "run",
        help="run a WorkerApp as a service: its hosts, leased read models and relay, with health probes",
        description="Exit codes: 0 stopped by SIGTERM/SIGINT, 1 a service failed, 2 the app cannot run as "
        "declared, 128+N a second signal N during shutdown.",
    )
    parser.add_argument("app", metavar="MODULE:ATTRIBUTE", help="the WorkerApp to run, e.g. myapp.processing:app")
    parser.add_argument(
        "--health-port", type=int, default=int(os.environ.get("MESSAGEHANDLER_HEALTH_PORT", "8080")),
        help="port of /healthz, /readyz and /status (default 8080 or $MESSAGEHANDLER_HEALTH_PORT; 0 picks one)",
    )  # fmt: skip
    parser.add_argument("--no-health", action="store_true", help="serve no HTTP probes")
    parser.add_argument("--health-host", default="0.0.0.0", help="address the probes listen on (default all)")  # noqa: S104
    parser.add_argument("--worker-id", help="name in logs and leases (default $MESSAGEHANDLER_WORKER_ID or host-pid)")
    parser.add_argument("--log-level", default=os.environ.get("MESSAGEHANDLER_LOG_LEVEL", "INFO"))
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="json: one JSON object a line")


async def run(args: argparse.Namespace, redact: Redactor, out: TextIO, err: TextIO) -> int:
    from messagehandler.worker.logs import configure_logging
    from messagehandler.worker.runner import Worker, load_app, serve_until_signalled

    worker = Worker(
        load_app(args.app),
        worker_id=args.worker_id,
        health_port=None if args.no_health else args.health_port,
        health_host=args.health_host,
    )
    handler = configure_logging(worker.worker_id, level=args.log_level, log_format=args.log_format, stream=err)
    try:
        return await serve_until_signalled(worker)
    finally:
        logging.getLogger().removeHandler(handler)
