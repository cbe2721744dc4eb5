"""Webhook channel: CloudEvents POSTed to an HTTP endpoint, signed with a shared secret.

Volatile: a receiver that stays down past the retries loses the events (the publish call raises
`ChannelError`, and whether to keep them is the dispatcher's choice). Structured mode sends one
`application/cloudevents+json` request per envelope, in order; batch mode sends
`application/cloudevents-batch+json` arrays, split by size, for receivers that accept them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from datetime import timedelta

from messagehandler.channels.envelope import CONTENT_TYPE, CloudEvent
from messagehandler.channels.errors import ChannelConfigurationError, ChannelError
from messagehandler.channels.lifecycle import Closeable
from messagehandler.channels.limits import encode_within_limit, join_json_array, json_array_batches
from messagehandler.channels.protocol import ChannelKind
from messagehandler.channels.volatile.signing import Secret, signature_headers
from messagehandler.extras import requires_extra
from messagehandler.redaction import describe_error

with requires_extra(
    "webhook",
    "the webhook channel",
    (
        "aiohttp",
        "yarl",
    ),
):
    import aiohttp
    from yarl import URL

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json; charset=utf-8"
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookChannel(Closeable):
    """POSTs envelopes to `url`, each request signed (see `messagehandler.channels.volatile.signing`).

    Server errors (5xx, 408, 429), timeouts and connection failures are retried `max_retries` times
    with jittered exponential back-off, honouring a short `Retry-After`; other 4xx answers are final.
    The URL may carry a key (`?code=...`): only its scheme, host and port ever appear in reprs and errors.
    """

    def __init__(
        self,
        url: str,
        secret: Secret,
        *,
        name: str = "webhook",
        batch: bool = False,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        timeout: timedelta = timedelta(seconds=10),
        max_retries: int = 3,
        retry_backoff: timedelta = timedelta(milliseconds=500),
        retry_backoff_max: timedelta = timedelta(seconds=8),
        headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ChannelConfigurationError(f"channel {name!r}: webhook URL must be absolute http(s)")
        if not secret:
            raise ChannelConfigurationError(f"channel {name!r}: a signing secret is required")
        self._url = url
        self._where = f"{parsed.scheme}://{parsed.host}:{parsed.port}"
        self._secret = secret
        self._name = name
        self._batch = batch
        self._max_request_bytes = max_request_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        self._max_retries = max_retries
        self._backoff = retry_backoff.total_seconds()
        self._backoff_max = retry_backoff_max.total_seconds()
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
        self._ensure_open()
        bodies = encode_within_limit(self._name, envelopes, self.max_message_bytes, CloudEvent.to_bytes)
        if self._batch:
            requests = [
                (join_json_array([bodies[i] for i in run]), BATCH_CONTENT_TYPE, len(run))
                for run in json_array_batches(bodies, self._max_request_bytes)
            ]
        else:
            requests = [(body, CONTENT_TYPE, 1) for body in bodies]
        delivered = 0
        for body, content_type, count in requests:
            await self._post(body, content_type, delivered, len(envelopes))
            delivered += count

    async def _post(self, body: bytes, content_type: str, delivered: int, total: int) -> None:
        session = self._client_session()
        failure = ""
        for attempt in range(self._max_retries + 1):
            headers = {**self._headers, "Content-Type": content_type, **signature_headers(self._secret, body)}
            retry_after: float | None = None
            try:
                async with session.post(self._url, data=body, headers=headers, timeout=self._timeout) as response:
                    if 200 <= response.status < 300:
                        return
                    failure = f"HTTP {response.status}"
                    if response.status not in RETRYABLE_STATUS:
                        raise self._failure(failure, delivered, total, attempt + 1)
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as error:
                failure = describe_error(error, [self._url, self._secret])
            if attempt < self._max_retries:
                await asyncio.sleep(self._delay(attempt, retry_after))
        raise self._failure(failure, delivered, total, self._max_retries + 1)

    def _failure(self, failure: str, delivered: int, total: int, attempts: int) -> ChannelError:
        return ChannelError(
            f"channel {self._name!r}: POST to {self._where} failed after {attempts} attempt(s) ({failure}); "
            f"{delivered} of {total} envelope(s) of this call were delivered"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None and retry_after <= self._backoff_max:
            return retry_after
        return min(self._backoff_max, self._backoff * 2.0**attempt) * random.uniform(0.5, 1.0)

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self._name!r}, endpoint={self._where!r}, batch={self._batch})"


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
