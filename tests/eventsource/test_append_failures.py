"""A failed append is classified by its failing operation: one row per kind of failure, no Azurite needed.

The errors are the SDK's own exception classes, built the way azure-data-tables and azure-core build
them (the error code is set after construction, the transport error is wrapped as `inner_exception`).
"""

from __future__ import annotations

import aiohttp
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableTransactionError

from messagehandler.eventsource.azure_tables.conflicts import Failed, classify

EVENT_ROWS = 3


def transaction_error(code: str, index: int, status: int = 409) -> TableTransactionError:
    error = TableTransactionError(message=f"{index}:the operation failed")
    error.error_code = code
    error.status_code = status
    return error


def http_error(status: int, code: str | None = None, kind: type[HttpResponseError] = HttpResponseError) -> Exception:
    error = kind(message="the service said no")
    error.status_code = status
    error.error_code = code
    return error


def refused() -> Exception:
    return ServiceRequestError("cannot connect", error=ConnectionRefusedError(111, "Connection refused"))


def hung_up() -> Exception:
    return ServiceRequestError("connection lost", error=aiohttp.ServerDisconnectedError())


def read_timeout() -> Exception:
    return ServiceResponseError("timed out", error=aiohttp.SocketTimeoutError("read"))


def connect_timeout() -> Exception:
    return ServiceRequestError("timed out", error=aiohttp.ConnectionTimeoutError("connect"))


CASES = [
    ("table missing", transaction_error("TableNotFound", 0, 404), True, Failed.TABLE_MISSING),
    ("table missing, plain", http_error(404, "TableNotFound", ResourceNotFoundError), False, Failed.TABLE_MISSING),
    (
        "outbox row created meanwhile",
        transaction_error("EntityAlreadyExists", EVENT_ROWS),
        True,
        Failed.OUTBOX_ROW_CHANGED,
    ),
    (
        "outbox row changed meanwhile",
        transaction_error("UpdateConditionNotSatisfied", EVENT_ROWS, 412),
        True,
        Failed.OUTBOX_ROW_CHANGED,
    ),
    (
        "outbox row cleared meanwhile",
        transaction_error("ResourceNotFound", EVENT_ROWS, 404),
        True,
        Failed.OUTBOX_ROW_CHANGED,
    ),
    ("a version row exists", transaction_error("EntityAlreadyExists", 1), True, Failed.VERSION_ROW_EXISTS),
    (
        "a version row exists, no outbox",
        transaction_error("EntityAlreadyExists", EVENT_ROWS),
        False,
        Failed.VERSION_ROW_EXISTS,
    ),
    ("not found but not the outbox row", transaction_error("ResourceNotFound", 0, 404), True, Failed.REFUSED),
    ("wrong key", http_error(403, "AuthenticationFailed", ClientAuthenticationError), False, Failed.REFUSED),
    ("bad request", http_error(400, "InvalidInput"), False, Failed.REFUSED),
    ("too large", transaction_error("RequestBodyTooLarge", 0, 413), False, Failed.REFUSED),
    ("server busy", http_error(503, "ServerBusy"), False, Failed.AMBIGUOUS),
    ("internal error", http_error(500, "InternalError"), False, Failed.AMBIGUOUS),
    ("throttled", http_error(429), False, Failed.AMBIGUOUS),
    ("request timeout", http_error(408), False, Failed.AMBIGUOUS),
    ("connection refused", refused(), False, Failed.NOT_SENT),
    ("connect timeout", connect_timeout(), False, Failed.NOT_SENT),
    ("server hung up", hung_up(), False, Failed.AMBIGUOUS),
    ("response lost", ServiceResponseError("connection reset"), False, Failed.AMBIGUOUS),
    ("read timeout", read_timeout(), False, Failed.TIMED_OUT),
    ("asyncio timeout", TimeoutError(), False, Failed.TIMED_OUT),
    ("a bug", TypeError("unsupported operand"), False, Failed.NOT_A_SERVICE_FAILURE),
]


@pytest.mark.parametrize(("error", "with_outbox", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_failed_append_is_classified_by_its_failing_operation(
    error: Exception, with_outbox: bool, expected: Failed
) -> None:
    assert classify(error, event_rows=EVENT_ROWS, with_outbox=with_outbox) is expected


def test_every_kind_of_failure_is_covered() -> None:
    assert {case[3] for case in CASES} == set(Failed)
