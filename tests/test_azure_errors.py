"""The one mapping from SDK and transport exceptions to the error model, table-driven."""

from __future__ import annotations

import asyncio
import traceback

import aiohttp
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.exceptions import ResourceNotFoundError as SdkNotFound
from azure.eventhub.exceptions import AuthenticationError, ConnectionLostError
from azure.servicebus.exceptions import (
    MessagingEntityNotFoundError,
    ServiceBusConnectionError,
    ServiceBusServerBusyError,
)

from messagehandler.azure_errors import RedactedCauseError, azure_errors, map_azure_error, reached_service, timed_out
from messagehandler.errors import (
    AccessDeniedError,
    ConfigurationError,
    MessageHandlerError,
    Remedy,
    ResourceNotFoundError,
    ServiceError,
    ServiceUnavailableError,
)
from messagehandler.eventsource.azure_tables import TableNotFoundError

KEY = "c2VjcmV0LWtleS12YWx1ZS10aGF0LW11c3Qtbm90LWxlYWs="


def http_error(status: int, code: str | None = None, message: str = "refused") -> HttpResponseError:
    error = HttpResponseError(message=message)
    error.status_code = status
    error.error_code = code
    return error


def not_found(code: str) -> SdkNotFound:
    error = SdkNotFound(message="gone")
    error.status_code = 404
    error.error_code = code
    return error


@pytest.mark.parametrize(
    ("error", "expected", "remedy"),
    [
        (http_error(403, "AuthenticationFailed"), AccessDeniedError, Remedy.FIX_CONFIGURATION),
        (http_error(401), AccessDeniedError, Remedy.FIX_CONFIGURATION),
        (ClientAuthenticationError("no token"), AccessDeniedError, Remedy.FIX_CONFIGURATION),
        (AuthenticationError("sas expired"), AccessDeniedError, Remedy.FIX_CONFIGURATION),
        (not_found("QueueNotFound"), ResourceNotFoundError, Remedy.FIX_CONFIGURATION),
        (MessagingEntityNotFoundError(message="no queue"), ResourceNotFoundError, Remedy.FIX_CONFIGURATION),
        (ServiceRequestError("connection refused"), ServiceUnavailableError, Remedy.RETRY_LATER),
        (ServiceResponseError("reset by peer"), ServiceUnavailableError, Remedy.RETRY_LATER),
        (http_error(503, "ServerBusy"), ServiceUnavailableError, Remedy.RETRY_LATER),
        (http_error(500), ServiceUnavailableError, Remedy.RETRY_LATER),
        (http_error(429), ServiceUnavailableError, Remedy.RETRY_LATER),
        (TimeoutError(), ServiceUnavailableError, Remedy.RETRY_LATER),
        (ConnectionResetError(), ServiceUnavailableError, Remedy.RETRY_LATER),
        (aiohttp.ServerDisconnectedError(), ServiceUnavailableError, Remedy.RETRY_LATER),
        (ServiceBusConnectionError(message="link detached"), ServiceUnavailableError, Remedy.RETRY_LATER),
        (ServiceBusServerBusyError(message="busy"), ServiceUnavailableError, Remedy.RETRY_LATER),
        (ConnectionLostError("lost"), ServiceUnavailableError, Remedy.RETRY_LATER),
        (http_error(400, "InvalidInput"), ServiceError, Remedy.INSPECT),
        (ResourceExistsError("exists"), ServiceError, Remedy.INSPECT),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_failure_maps_to_the_class_that_says_what_to_do(
    error: Exception, expected: type[MessageHandlerError], remedy: Remedy
) -> None:
    with pytest.raises(MessageHandlerError) as raised, azure_errors("table 'Events'", action="append"):
        raise error
    assert type(raised.value) is expected
    assert raised.value.remedy is remedy
    assert "table 'Events'" in str(raised.value)
    assert isinstance(raised.value, ServiceError)
    assert raised.value.service == "table 'Events'"


def test_status_and_code_are_kept() -> None:
    mapped = map_azure_error(http_error(503, "ServerBusy"), "queue 'q'")
    assert isinstance(mapped, ServiceError)
    assert (mapped.status, mapped.code) == (503, "ServerBusy")
    assert mapped.retryable


def test_access_denied_is_a_configuration_error() -> None:
    mapped = map_azure_error(http_error(403), "table 'Events'")
    assert isinstance(mapped, ConfigurationError)
    assert not mapped.retryable
    assert "role assignments" in str(mapped)


def test_a_specific_not_found_error_replaces_the_generic_one() -> None:
    mapped = map_azure_error(
        not_found("TableNotFound"), "table 'Events'", not_found=lambda: TableNotFoundError("Events")
    )
    assert isinstance(mapped, TableNotFoundError)
    assert isinstance(mapped, ResourceNotFoundError)


def test_a_refused_connection_never_reached_the_service() -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, False, True, None, None, None), ConnectionRefusedError()
    )
    assert not reached_service(ServiceRequestError(refused, error=refused))
    assert not reached_service(ConnectionRefusedError())
    hung_up = aiohttp.ServerDisconnectedError()
    assert reached_service(ServiceRequestError(hung_up, error=hung_up))  # azure-core's name for a lost response
    assert reached_service(ServiceResponseError("reset"))
    assert reached_service(TimeoutError())
    mapped = map_azure_error(ServiceRequestError(refused, error=refused), "t")
    assert isinstance(mapped, ServiceError)
    assert not mapped.reached_service


def test_secrets_appear_neither_in_the_message_nor_in_the_chain() -> None:
    error = http_error(403, "AuthenticationFailed", f"bad AccountKey={KEY};EndpointSuffix=x sig={KEY}")
    with pytest.raises(AccessDeniedError) as raised, azure_errors("table 'T'", secrets=[KEY]):
        raise error
    cause = raised.value.__cause__
    assert isinstance(cause, RedactedCauseError)
    assert cause.status == 403
    assert "azure.core.exceptions.HttpResponseError" in str(cause)
    rendered = "".join(traceback.format_exception(raised.value))
    assert KEY not in rendered
    assert "test_secrets_appear_neither" in rendered  # the original traceback is kept


def test_own_errors_and_programming_errors_pass_through() -> None:
    own = ConfigurationError("bad option")
    with pytest.raises(ConfigurationError) as raised, azure_errors("t"):
        raise own
    assert raised.value is own
    with pytest.raises(TypeError), azure_errors("t"):
        raise TypeError("a bug")
    with pytest.raises(asyncio.CancelledError), azure_errors("t"):
        raise asyncio.CancelledError


def test_an_error_code_enum_is_shown_by_its_value() -> None:
    from azure.data.tables import TableErrorCode

    mapped = map_azure_error(http_error(403, TableErrorCode.AUTHORIZATION_FAILURE), "table 'Events'")

    assert "AuthorizationFailure" in str(mapped)
    assert "TableErrorCode" not in str(mapped)
    assert mapped.code == "AuthorizationFailure"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ServiceResponseError("timed out", error=aiohttp.SocketTimeoutError("read")), True),
        (TimeoutError(), True),
        (ServiceRequestError("timed out", error=aiohttp.ConnectionTimeoutError("connect")), False),
        (ServiceResponseError("connection reset"), False),
        (http_error(503), False),
    ],
    ids=["read timeout", "asyncio timeout", "connect timeout (never sent)", "reset", "503"],
)
def test_a_timeout_is_told_apart_from_other_failures(error: BaseException, expected: bool) -> None:
    assert timed_out(error) is expected
