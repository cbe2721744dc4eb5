"""Log lines an orchestrator's collector reads: one line per record on stderr, as text or as JSON.

Azure Container Apps and Kubernetes keep what a container writes to stdout and stderr; JSON lines
(`--log-format json`) arrive in Log Analytics or Loki as fields (`level`, `logger`, `message`,
`worker`, `exception`, and `stream`, `version`, `event_id`, `trace_id`, `span_id` when a record is about
an event or was written inside a span) without a parsing rule.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

from messagehandler.telemetry.logs import FIELDS
from messagehandler.telemetry.propagation import current_ids

LogFormat = Literal["text", "json"]


class JsonFormatter(logging.Formatter):
    def __init__(self, worker_id: str) -> None:
        super().__init__()
        self.worker_id = worker_id

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "worker": self.worker_id,
        }
        for name in FIELDS:
            if (value := getattr(record, name, None)) is not None:
                line[name] = value
        if "trace_id" not in line:
            trace_id, span_id = current_ids()
            if trace_id is not None:
                line["trace_id"], line["span_id"] = trace_id, span_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(
    worker_id: str, *, level: str = "INFO", log_format: LogFormat = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Send every record to stderr (or `stream`), one line each; replaces handlers a previous call installed.

    Returns the handler, to remove when the stream is closed before the process ends.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(worker_id))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s [{worker_id}] %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_messagehandler", False):
            root.removeHandler(existing)
    handler._messagehandler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
