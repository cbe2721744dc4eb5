"""Entity queries answered as plain JSON objects: the readers decode the columns they know themselves.

The SDK turns every row of a query into a `TableEntity` through its generated model deserialiser and
a conversion of every column (a `strptime` per DateTime): measured on Azurite, about 85% of the time
of reading an event, which the readers of an event store pay for every row they read. These queries
send the same request through the same client pipeline (credentials, retries, the same transport),
take the page as `json.loads` gives it, and convert only the values the service marks with a type.

The service is asked for `odata=minimalmetadata`, not `nometadata`: without annotations an Int64
or a Guid arrives as a plain string, a DateTime as plain text and a Binary as base64 text, so a row
another client wrote with an Int64 `EventId` or a DateTime `Who` would read as a different value
instead of being refused as it was through the SDK. With the annotations every typed value becomes
its Python type (Int64 a plain int where the SDK made an `EntityProperty`, Guid a `UUID`, DateTime
a `datetime`, Binary `bytes`, Double a float), which the tolerant decoding of
`messagehandler.eventsource.rows` reads as it read the SDK's values. The cost of the annotations
was measured at about a tenth of the read time.

Every query value travels percent-encoded exactly as the SDK's serializer sends it (`quote(value,
safe="")`): azure-core appends `params` to the URL as they are, and the service decodes a bare `+`
as a space, so a filter or continuation key holding `+` or `%41` would name other rows.

The module leans on three private names of azure-data-tables (the client's `_client.send_request`,
`_parameter_filter_substitution` and `_decode_error`); `pyproject.toml` therefore requires the
release they were tested with as the lowest.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast
from urllib.parse import quote
from uuid import UUID

from azure.core.exceptions import DecodeError, HttpResponseError
from azure.core.rest import HttpRequest
from azure.data.tables._error import _decode_error as _sdk_decode_error
from azure.data.tables._serialize import _parameter_filter_substitution
from azure.data.tables.aio import TableClient

ETAG = "odata.etag"
TIMESTAMP = "Timestamp"
KEY_RANGE = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
"""The rows of one partition whose keys lie in [lo, hi): a stream's events, the outbox rows."""

_decode_error = cast(Callable[[Any], Exception], _sdk_decode_error)
"""The SDK's own decoding of a failed response into its exception types (it carries no annotations)."""

_ANNOTATION = "@odata.type"
_ANNOTATION_LENGTH = len(_ANNOTATION)
_ACCEPT = "application/json;odata=minimalmetadata"
_CONTINUATION = {
    "NextPartitionKey": "x-ms-continuation-NextPartitionKey",
    "NextRowKey": "x-ms-continuation-NextRowKey",
}
"""Query parameters of the next page, and the response headers the service sends them in."""


def _datetime(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


commit_time: Callable[[str], datetime] = lru_cache(maxsize=1024)(_datetime)
"""A `Timestamp` as a datetime; the rows of one transaction share it, so each is parsed once."""

_CONVERT: dict[str, Callable[[Any], Any]] = {
    "Edm.DateTime": _datetime,
    "Edm.Int64": int,
    "Edm.Guid": UUID,
    "Edm.Binary": base64.b64decode,
    "Edm.Double": float,
}


def typed(row: dict[str, Any]) -> dict[str, Any]:
    """The row with every annotated value converted to its Python type and the annotations removed.

    A value the service marked with a type it cannot have (a malformed Int64) is left as the text it
    came as; the reader then refuses it as a column of no usable type.
    """
    annotated = [key for key in row if key.endswith(_ANNOTATION)]
    for key in annotated:
        edm = row.pop(key)
        column = key[:-_ANNOTATION_LENGTH]
        convert = _CONVERT.get(edm)
        if convert is not None and column in row:
            with contextlib.suppress(TypeError, ValueError):
                row[column] = convert(row[column])
    return row


def stored_at(row: dict[str, Any]) -> datetime | None:
    """The service's commit time of a row (its `Timestamp`), when the query selected it."""
    value = row.get(TIMESTAMP)
    if value is None or isinstance(value, datetime):
        return value
    return commit_time(str(value))


def _page_rows(response: Any) -> list[dict[str, Any]]:
    """The rows of a query's answer; an answer that is no OData feed (garbled on the way, cut short, nested
    too deeply) raises the SDK's `DecodeError`, which the source maps as it maps every SDK failure."""
    try:
        rows = json.loads(response.content)["value"]
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise TypeError("'value' is not an array of objects")
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        raise DecodeError(
            f"the table service answered a query with a body that is not an OData feed: {type(error).__name__}",
            response=response,
        ) from error
    return rows


class JsonRows:
    """Runs entity queries of one table through its client's pipeline and yields the pages as JSON rows.

    Filters are built by the SDK's own parameter substitution and every value is quoted as the SDK
    quotes it, exactly as `query_entities` sends them; a failed request raises the exception the
    SDK raises for it, and an answer that is no page of rows (not JSON, no `value`) or a
    continuation that repeats the previous one raises an azure-core `HttpResponseError`, so the
    error mapping of the source applies unchanged.
    """

    def __init__(self, client: TableClient) -> None:
        self._send = client._client.send_request
        self._path = f"/{client.table_name}()"
        self._headers = {"Accept": _ACCEPT, "DataServiceVersion": "3.0", "x-ms-version": client.api_version}

    async def pages(
        self,
        query_filter: str,
        parameters: dict[str, Any],
        *,
        select: list[str] | None,
        page_size: int,
        on_answer: Callable[[Any], None] | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page of the query's rows in key order; a page may be empty when a continuation follows.

        `on_answer` is given each page's response headers before its rows (the outbox reads `Date`).
        """
        query = {"$filter": _parameter_filter_substitution(parameters, query_filter), "$top": str(page_size)}
        if select:
            query["$select"] = ",".join(select)
        continuation: dict[str, str] = {}
        while True:
            params = {key: quote(value, safe="") for key, value in (query | continuation).items()}
            response = await self._send(HttpRequest("GET", self._path, params=params, headers=self._headers))
            if response.status_code != 200:
                raise _decode_error(response)
            if on_answer is not None:
                on_answer(response.headers)
            yield _page_rows(response)
            following = {key: value for key, header in _CONTINUATION.items() if (value := response.headers.get(header))}
            if not following:
                return
            if following == continuation:
                raise HttpResponseError(
                    "the service answered a continuation with the same continuation again; stopped paging "
                    "instead of reading the same page forever",
                    response=response,
                )
            continuation = following
