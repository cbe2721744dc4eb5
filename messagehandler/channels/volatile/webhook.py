"""Webhook channel: CloudEvents POSTed to an HTTP endpoint, signed per Standard Webhooks.

Volatile: a receiver that stays down past the retries loses the events (the publish call raises a
`ChannelError`, and whether to keep them is the dispatcher's choice). Structured mode sends one
`application/cloudevents+json` request per envelope, in order; batch mode sends
`application/cloudevents-batch+json` arrays, split by size, for receivers that accept them.

Status handling follows Standard Webhooks: 2xx is success; a redirect (3xx) is never followed (that
would re-post a signed body to whatever `Location` names) and fails at once; 408, 425, 429, 5xx,
timeouts and connection failures are retried with back-off, honouring `Retry-After` (seconds or an
HTTP date) up to `max_retry_after`; any other answer is final.
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from messagehandler.azure_errors import RedactedCauseError, http_status_error, map_azure_error
from messagehandler.channels.envelope import CONTENT_TYPE, CloudEvent
from messagehandler.channels.errors import (
    CHANNEL_ERRORS,
    ChannelConfigurationError,
    ChannelUnavailableError,
    WebhookRedirectError,
)
from messagehandler.channels.lifecycle import Closeable
from messagehandler.channels.limits import encode_within_limit, join_json_array, json_array_batches
from messagehandler.channels.protocol import ChannelKind
from messagehandler.channels.volatile import signing, standard_webhooks
from messagehandler.errors import MessageHandlerError, ServiceError
from messagehandler.extras import requires_extra

with requires_extra("webhook", "the webhook channel", ("aiohttp", "yarl")):
    import aiohttp
    from yarl import URL

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json; charset=utf-8"
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookSigning(enum.Enum):
    """Which signature headers a request carries."""

    STANDARD = "standard"
    """`webhook-id`, `webhook-timestamp`, `webhook-signature` per Standard Webhooks; the secret is `whsec_...`."""
    MESSAGEHANDLER = "messagehandler"
    """The earlier `X-MessageHandler-Timestamp` and `X-MessageHandler-Signature` headers only."""
    BOTH = "both"
    """Both sets, while receivers move from the earlier headers to Standard Webhooks."""


class WebhookChannel(Closeable):
    """POSTs envelopes to `url`, each request signed (see `messagehandler.channels.volatile.standard_webhooks`).

    `secret` is a `whsec_<base64>` string (`standard_webhooks.generate_secret()` makes one) or a
    sequence of them during a rotation; with `signing=WebhookSigning.MESSAGEHANDLER` any non-empty
    string or bytes. Failures are retried `max_retries` times with jittered exponential back-off; a
    `Retry-After` is waited for exactly when it is at most `max_retry_after`, and a longer one ends
    the call at once (the outbox relay tries again later). The URL may carry a key (`?code=...`):
    only its scheme, host and port ever appear in reprs and errors.
    """

    messaging_system = "webhook"
    """`messaging.system` of its spans and metrics (OpenTelemetry messaging conventions)."""

    def __init__(
        self,
        url: str,
        secret: str | bytes | Sequence[str | bytes],
        *,
        name: str = "webhook",
        signing: WebhookSigning = WebhookSigning.STANDARD,
        batch: bool = False,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        timeout: timedelta = timedelta(seconds=10),
        max_retries: int = 3,
        retry_backoff: timedelta = timedelta(milliseconds=500),
        retry_backoff_max: timedelta = timedelta(seconds=8),
        max_retry_after: timedelta = timedelta(seconds=30),
        headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ChannelConfigurationError(f"channel {name!r}: webhook URL must be absolute http(s)")
        secrets = [secret] if isinstance(secret, str | bytes) else list(secret)
        if not secrets or not all(secrets):
            raise ChannelConfigurationError(f"channel {name!r}: a signing secret is required")
        if signing is not WebhookSigning.MESSAGEHANDLER:
            try:
                for candidate in secrets:
                    standard_webhooks.secret_key(candidate)
            except ValueError as error:
                raise ChannelConfigurationError(f"channel {name!r}: {error}") from None
        self._url = url
        self._where = f"{parsed.scheme}://{parsed.host}:{parsed.port}"
        self._secrets = secrets
        self._signing = signing
        self._name = name
        self._batch = batch
        self._max_request_bytes = max_request_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        self._max_retries = max_retries
        self._backoff = retry_backoff.total_seconds()
        self._backoff_max = retry_backoff_max.total_seconds()
        self._max_retry_after = max_retry_after.total_seconds()
        self._headers = dict(headers or {})
        self._session = session
        self._owns_session = session is None

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.VOLATILE

    @property
    def max_message_bytes(self) -> int:
        """One envelope's JSON; in batch mode it leaves room for the array's brackets."""
        return self._max_request_bytes - 2 if self._batch else self._max_request_bytes

    async def publish(self, envelopes: Sequence[CloudEvent]) -> None:
        """POST every envelope, in order.

        Raises:
            EnvelopeTooLargeError: an envelope is over `max_message_bytes`; nothing was sent.
            WebhookRedirectError: the endpoint answered with a redirect; it was not followed.
            ChannelUnavailableError: the endpoint failed, timed out or asked to retry later, past the retries.
            ChannelAccessDeniedError: the endpoint answered 401 or 403.
            ChannelNotFoundError: the endpoint answered 404 or 410 (Gone: stop sending).
            ChannelServiceError: the endpoint refused the request with another status.
            ChannelClosedError: the channel was closed.
        """
        self._ensure_open()
        bodies = encode_within_limit(self._name, envelopes, self.max_message_bytes, CloudEvent.to_bytes)
        if self._batch:
            runs = json_array_batches(bodies, self._max_request_bytes)
            requests = [(join_json_array([bodies[i] for i in run]), BATCH_CONTENT_TYPE, run) for run in runs]
        else:
            requests = [(body, CONTENT_TYPE, [index]) for index, body in enumerate(bodies)]
        delivered = 0
        for body, content_type, run in requests:
            msg_id = standard_webhooks.message_id(envelopes[i].id for i in run)
            try:
                await self._post(body, content_type, msg_id)
            except MessageHandlerError as error:
                error.args = (f"{error}; {delivered} of {len(envelopes)} envelope(s) of this call were delivered",)
                raise
            delivered += len(run)

    def _signed_headers(self, body: bytes, content_type: str, msg_id: str) -> dict[str, str]:
        headers = {**self._headers, "Content-Type": content_type}
        if self._signing is not WebhookSigning.MESSAGEHANDLER:
            headers.update(standard_webhooks.signature_headers(self._secrets, msg_id, body))
        if self._signing is not WebhookSigning.STANDARD:
            headers.update(signing.signature_headers(self._secrets[0], body))
        return headers

    async def _post(self, body: bytes, content_type: str, msg_id: str) -> None:
        session = self._client_session()
        attempts = self._max_retries + 1
        for attempt in range(1, attempts + 1):
            cause: BaseException | None = None
            try:
                async with session.post(
                    self._url,
                    data=body,
                    headers=self._signed_headers(body, content_type, msg_id),
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as response:
                    status = response.status
                    if 200 <= status < 300:
                        return
                    failure = self._answer_failure(response, attempt)
                    if status not in RETRYABLE_STATUS:
                        raise failure
                    delay = self._delay(attempt, _retry_after(response.headers.get("Retry-After")), failure)
            except (aiohttp.ClientError, TimeoutError) as error:
                mapped = map_azure_error(
                    error,
                    self._service,
                    action=f"POST (attempt {attempt})",
                    secrets=self._redacted,
                    classes=CHANNEL_ERRORS,
                )
                cause = RedactedCauseError(error, self._redacted)
                if not isinstance(mapped, ServiceError) or not mapped.retryable:
                    raise mapped from cause
                failure, delay = mapped, self._delay(attempt, None, mapped)
            if attempt == attempts:
                raise failure from cause
            await asyncio.sleep(delay)

    def _answer_failure(self, response: aiohttp.ClientResponse, attempt: int) -> ServiceError:
        status = response.status
        if 300 <= status < 400:
            location = URL(response.headers.get("Location", ""))
            shown = f"{location.scheme}://{location.host}:{location.port}{location.path}" if location.host else "?"
            return WebhookRedirectError(
                f"POST on {self._service} answered HTTP {status}, a redirect to {shown}: redirects are never "
                "followed (the signed body would be sent to another URL); configure the final URL",
                service=self._service,
                status=status,
            )
        kind = CHANNEL_ERRORS[http_status_error(status)]
        return kind(
            f"POST (attempt {attempt}) on {self._service} failed: HTTP {status} {response.reason or ''}".rstrip(),
            service=self._service,
            status=status,
        )

    def _delay(self, attempt: int, retry_after: float | None, failure: ServiceError) -> float:
        """Seconds to wait before the next attempt; a `Retry-After` over the cap ends the call instead."""
        if retry_after is None:
            return min(self._backoff_max, self._backoff * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if retry_after > self._max_retry_after:
            raise ChannelUnavailableError(
                f"{failure}; the endpoint asked to retry after {retry_after:.0f} s, over the "
                f"{self._max_retry_after:.0f} s this channel waits (max_retry_after): retry later",
                service=self._service,
                status=failure.status,
            )
        return retry_after

    @property
    def _service(self) -> str:
        return f"channel {self._name!r} (webhook at {self._where})"

    @property
    def _redacted(self) -> list[str | bytes]:
        return [self._url, *self._secrets]

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self._name!r}, endpoint={self._where!r}, batch={self._batch})"


def _retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for: a number of seconds, or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
