"""The one place where exceptions of the Azure SDKs and their transports become messagehandler errors.

Every adapter (event source, channels, receivers, search index, checkpoint and lease stores) wraps
its SDK calls in `azure_errors(...)`, so a caller meets the hierarchy of `messagehandler.errors` and
never an SDK type: the service is unavailable (retry later), access was denied or a resource is missing
(fix the configuration), or the service refused the request for another reason. The SDK's exception is
kept as the cause for diagnosis, as a `RedactedCauseError` holding its text with secrets masked and its
original traceback.

The classification reads types by name and the attributes every Azure SDK sets (`status_code`,
`error_code`, `retryable`), so this module imports no optional SDK and works for all of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping

from messagehandler.errors import (
    AccessDeniedError,
    MessageHandlerError,
    ResourceNotFoundError,
    ServiceError,
    ServiceUnavailableError,
)
from messagehandler.redaction import describe_error, redact

_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_NOT_FOUND_CODES = frozenset(
    {"TableNotFound", "QueueNotFound", "ContainerNotFound", "ResourceNotFound", "BlobNotFound", "EntityNotFound"}
)
_DENIED_NAMES = (
    "AuthenticationError",
    "AuthorizationError",
    "ClientAuthenticationError",
    "Unauthorized",
    "ServiceBusAuthenticationError",
    "ServiceBusAuthorizationError",
)
_NOT_FOUND_NAMES = ("EntityNotFoundError", "MessagingEntityNotFoundError")
_UNAVAILABLE_NAMES = (
    "ServiceRequestError",
    "ServiceResponseError",
    "ConnectError",
    "ConnectionLostError",
    "ServiceBusConnectionError",
    "ServiceBusCommunicationError",
    "ServiceBusServerBusyError",
    "ServiceBusQuotaExceededError",
    "OperationTimeoutError",
    "EventDataSendError",
    "ClientConnectionError",
    "ClientPayloadError",
    "ServerDisconnectedError",
    "IncompleteReadError",
)
_NOT_SENT_NAMES = ("ClientConnectorError", "ConnectionTimeoutError", "ServiceRequestTimeoutError")


class RedactedCauseError(Exception):
    """Stands in for an SDK exception in a `__cause__` chain: its type, status and text without secrets."""

    def __init__(self, error: BaseException, secrets: Iterable[str | bytes | None] = ()) -> None:
        self.error_type = f"{type(error).__module__}.{type(error).__qualname__}"
        self.status = error_status(error)
        self.code = error_code(error)
        super().__init__(f"{self.error_type}: {redact(str(error), secrets)}")
        self.__traceback__ = error.__traceback__


def _names(error: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(error).__mro__}


def error_status(error: BaseException) -> int | None:
    """The HTTP status of an SDK error, when the service answered."""
    status = getattr(error, "status_code", None)
    if status is None:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def error_code(error: BaseException) -> str | None:
    """The service's error code (`EntityAlreadyExists`, `TableNotFound`, ...), when it sent one."""
    code = getattr(error, "error_code", None)
    if code is None:
        return None
    return str(getattr(code, "value", code))


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and the ones it wraps (azure-core's `inner_exception`, else `__cause__`)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        inner = getattr(current, "inner_exception", None)
        current = inner if isinstance(inner, BaseException) else current.__cause__


def reached_service(error: BaseException) -> bool:
    """False when the request surely never reached the service (the connection was refused or not made).

    An append that failed this way stored nothing; any other failure may have stored it. azure-core
    raises `ServiceRequestError` both for a refused connection and for a server that hung up after the
    request was sent, so the wrapped transport error decides.
    """
    if isinstance(error, ServiceError):
        return error.reached_service
    return not any(
        isinstance(current, ConnectionRefusedError) or _names(current) & set(_NOT_SENT_NAMES)
        for current in _chain(error)
    )


def timed_out(error: BaseException) -> bool:
    """The client stopped waiting for an answer: a request that was sent may still be carried out later."""
    return reached_service(error) and any(isinstance(current, TimeoutError) for current in _chain(error))


def is_unavailable(error: BaseException) -> bool:
    """The service was unreachable, too slow, busy or failing on its side: worth retrying later."""
    status = error_status(error)
    if status is not None:
        return status in _RETRY_STATUSES or status >= 500
    if isinstance(error, TimeoutError | ConnectionError):
        return True
    if _names(error) & set(_UNAVAILABLE_NAMES):
        return True
    return getattr(error, "retryable", False) is True


def http_status_error(status: int) -> type[ServiceError]:
    """The service error class for an HTTP answer of a plain endpoint (a webhook): what the caller can do.

    401 and 403 are refused credentials; 404 and 410 (Gone, which Standard Webhooks uses to say "stop
    sending") a missing resource; 408, 425, 429 and 5xx are worth retrying later; any other status is
    a refusal the same request will meet again.
    """
    if status in (401, 403):
        return AccessDeniedError
    if status in (404, 410):
        return ResourceNotFoundError
    if status in _RETRY_STATUSES or status >= 500:
        return ServiceUnavailableError
    return ServiceError


def map_azure_error(
    error: BaseException,
    service: str,
    *,
    action: str = "",
    secrets: Iterable[str | bytes | None] = (),
    not_found: Callable[[], MessageHandlerError] | None = None,
    classes: Mapping[type[ServiceError], type[ServiceError]] | None = None,
) -> MessageHandlerError:
    """The messagehandler error for an SDK or transport exception, with a one-line, secret-free message.

    `service` names what was called (`table 'Events'`), `action` what was being done (`append to
    Organization/acme`); `not_found` builds the specific error for a missing resource. `classes` swaps
    each service error class for a part's own subclass of it (`CHANNEL_ERRORS` makes an unreachable
    broker a `ChannelUnavailableError`, which is both a `ChannelError` and a `ServiceUnavailableError`).
    """
    if isinstance(error, MessageHandlerError):
        return error
    secrets = tuple(secrets)
    status, code, names = error_status(error), error_code(error), _names(error)
    doing = f"{action} on {service}" if action else service
    text = f"{doing} failed: {describe_error(error, secrets)}"
    kind: type[ServiceError]
    if status in (401, 403) or names & set(_DENIED_NAMES):
        kind = AccessDeniedError
        text += " (check the account key, SAS token or the identity's role assignments)"
    elif (status == 404 and code in _NOT_FOUND_CODES) or names & set(_NOT_FOUND_NAMES):
        if not_found is not None:
            return not_found()
        kind = ResourceNotFoundError
    elif is_unavailable(error):
        kind = ServiceUnavailableError
    else:
        kind = ServiceError
    if classes is not None:
        kind = classes.get(kind, kind)
    return kind(text, service=service, status=status, code=code, reached_service=reached_service(error))


@contextlib.contextmanager
def azure_errors(
    service: str,
    *,
    action: str = "",
    secrets: Iterable[str | bytes | None] = (),
    not_found: Callable[[], MessageHandlerError] | None = None,
    classes: Mapping[type[ServiceError], type[ServiceError]] | None = None,
) -> Iterator[None]:
    """Map what the block raises (an SDK, transport or timeout error) with `map_azure_error`.

    messagehandler's own errors pass through untouched; so do cancellation and programming errors
    (`TypeError`, `AttributeError`, ...), which no retry or configuration change would fix.
    """
    try:
        yield
    except MessageHandlerError:
        raise
    except Exception as error:
        if not is_service_failure(error):
            raise
        secrets = tuple(secrets)
        raise map_azure_error(
            error, service, action=action, secrets=secrets, not_found=not_found, classes=classes
        ) from RedactedCauseError(error, secrets)


def is_service_failure(error: BaseException) -> bool:
    """An SDK, transport or timeout error, as opposed to a programming error no retry would fix."""
    if isinstance(error, TimeoutError | OSError):
        return True
    module = type(error).__module__
    return module.startswith(("azure.", "aiohttp", "uamqp", "requests", "urllib3"))
