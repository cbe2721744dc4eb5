"""Count the round trips an Azure SDK client makes, for tests that pin how many requests an operation costs.

    log = RequestLog()
    source = AzureTableStorageEventSource.from_connection_string(conn, "Events", raw_request_hook=log)
    ...
    log.clear()
    await repository.flush()
    assert log.kinds() == ["transaction"]

`RequestLog` is the SDK's own `raw_request_hook`, called by its pipeline for every request it sends,
retries included; so it counts what goes over the wire, never a timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class SentRequest:
    """One HTTP request: its method and its URL's path and query (unquoted)."""

    method: str
    path: str
    query: str

    @property
    def kind(self) -> str:
        """What a Table Storage request does: `transaction`, `query`, `point read`, `insert`, `update`, `delete`."""
        if self.path.endswith("/$batch"):
            return "transaction"
        if self.method == "GET":
            return "point read" if self.path.endswith(")") and not self.path.endswith("()") else "query"
        return {"POST": "insert", "PUT": "update", "MERGE": "update", "PATCH": "update", "DELETE": "delete"}.get(
            self.method, self.method.lower()
        )


class RequestLog:
    """Records every request a client sends; pass it as the client's `raw_request_hook`."""

    def __init__(self) -> None:
        self.requests: list[SentRequest] = []

    def __call__(self, request: Any) -> None:
        http = request.http_request
        url = urlsplit(http.url)
        self.requests.append(SentRequest(http.method, unquote(url.path), unquote(url.query)))

    @property
    def count(self) -> int:
        """How many requests were sent (no `__len__`: the SDK skips a hook that is falsy)."""
        return len(self.requests)

    def kinds(self) -> list[str]:
        """The kind of each request, in order (see `SentRequest.kind`)."""
        return [request.kind for request in self.requests]

    def clear(self) -> None:
        self.requests.clear()
