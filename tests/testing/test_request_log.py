"""`RequestLog` names each Table Storage request by what it does, from its method and URL."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from messagehandler.testing import RequestLog


def sent(method: str, url: str) -> SimpleNamespace:
    return SimpleNamespace(http_request=SimpleNamespace(method=method, url=url))


@pytest.mark.parametrize(
    ("method", "url", "kind"),
    [
        ("POST", "https://a.table.core.windows.net/$batch", "transaction"),
        ("GET", "https://a/Events()?$filter=PartitionKey%20eq%20'x'", "query"),
        ("GET", "https://a/Events(PartitionKey='x',RowKey='y')", "point read"),
        ("POST", "https://a/Events", "insert"),
        ("PUT", "https://a/Events(PartitionKey='x',RowKey='y')", "update"),
        ("MERGE", "https://a/Events(PartitionKey='x',RowKey='y')", "update"),
        ("DELETE", "https://a/Events(PartitionKey='x',RowKey='y')", "delete"),
        ("OPTIONS", "https://a/Events", "options"),
    ],
)
def test_each_request_is_named_by_what_it_does(method: str, url: str, kind: str) -> None:
    log = RequestLog()
    log(sent(method, url))

    assert log.kinds() == [kind]
    assert log.count == 1


def test_the_log_keeps_paths_and_queries_unquoted_and_can_be_cleared() -> None:
    log = RequestLog()
    log(sent("GET", "https://a/Events()?$filter=RowKey%20ge%20'a'"))

    assert (log.requests[0].path, log.requests[0].query) == ("/Events()", "$filter=RowKey ge 'a'")
    log.clear()
    assert log.count == 0
    assert log.kinds() == []
