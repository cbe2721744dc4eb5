"""Webhook channel against a local HTTP receiver: signing, content types, retries, batching, secrets."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from messagehandler.channels import ChannelError, CloudEvent
from messagehandler.channels.errors import (
    ChannelAccessDeniedError,
    ChannelConfigurationError,
    ChannelNotFoundError,
    ChannelServiceError,
    ChannelUnavailableError,
    WebhookRedirectError,
)
from messagehandler.channels.volatile import SIGNATURE_HEADER, TIMESTAMP_HEADER, standard_webhooks, verify_signature
from messagehandler.channels.volatile.webhook import WebhookChannel, WebhookSigning
from messagehandler.errors import AccessDeniedError, Remedy, ResourceNotFoundError, ServiceUnavailableError
from tests.channels.http_receiver import HttpReceiver
from tests.channels.support import envelopes

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LEGACY_SECRET = "webhook-test-secret"
FAST = {"retry_backoff": timedelta(milliseconds=1), "retry_backoff_max": timedelta(milliseconds=5)}


@pytest.fixture
async def make_webhook(http_receiver: HttpReceiver) -> AsyncIterator[Any]:
    channels: list[WebhookChannel] = []

    def make(url: str | None = None, **options: Any) -> WebhookChannel:
        channels.append(WebhookChannel(url or http_receiver.url, SECRET, **{**FAST, **options}))
        return channels[-1]

    yield make
    for channel in channels:
        await channel.close()


async def test_each_envelope_is_one_request_signed_per_standard_webhooks(
    http_receiver: HttpReceiver, make_webhook: Any
) -> None:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    sent = envelopes("o-1", 2)
    await make_webhook(headers={"X-Tenant": "t1"}).publish(sent)

    requests = http_receiver.delivered()
    assert [CloudEvent.from_json(r.body) for r in requests] == sent
    for request in requests:
        assert request.headers["Content-Type"] == "application/cloudevents+json; charset=utf-8"
        assert request.headers["X-Tenant"] == "t1"
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
        assert SIGNATURE_HEADER not in request.headers
        headers = dict(request.headers)
        assert standard_webhooks.verify(SECRET, request.body, headers)
        assert Webhook(SECRET).verify(request.body, headers, json_parse=False) is None  # the reference library
        with pytest.raises(WebhookVerificationError):
            Webhook(standard_webhooks.generate_secret()).verify(request.body, headers)
    assert len({r.headers["webhook-id"] for r in requests}) == 2


async def test_the_earlier_headers_remain_an_option(http_receiver: HttpReceiver, make_webhook: Any) -> None:
    channel = WebhookChannel(http_receiver.url, LEGACY_SECRET, signing=WebhookSigning.MESSAGEHANDLER, **FAST)
    both = WebhookChannel(http_receiver.url, SECRET, signing=WebhookSigning.BOTH, **FAST)
    try:
        await channel.publish(envelopes("o-1", 1))
        await both.publish(envelopes("o-2", 1))
    finally:
        await channel.close()
        await both.close()

    legacy, migrating = http_receiver.delivered()
    assert "webhook-signature" not in legacy.headers
    assert verify_signature(
        LEGACY_SECRET, legacy.body, legacy.headers[SIGNATURE_HEADER], legacy.headers[TIMESTAMP_HEADER]
    )
    assert standard_webhooks.verify(SECRET, migrating.body, dict(migrating.headers))
    assert verify_signature(
        SECRET, migrating.body, migrating.headers[SIGNATURE_HEADER], migrating.headers[TIMESTAMP_HEADER]
    )


async def test_a_retried_delivery_keeps_its_webhook_id(http_receiver: HttpReceiver, make_webhook: Any) -> None:
    http_receiver.fail_next(503)

    await make_webhook(max_retries=1).publish(envelopes("o-1", 1))

    first, second = http_receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert standard_webhooks.verify(SECRET, second.body, dict(second.headers))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_never_followed_and_fails_the_call(
    http_receiver: HttpReceiver, make_webhook: Any, status: int
) -> None:
    elsewhere = await HttpReceiver().start()
    try:
        http_receiver.fail_next(status, headers={"Location": elsewhere.url + "?code=other-key"})

        with pytest.raises(WebhookRedirectError, match=rf"HTTP {status}.*redirect.*never followed") as raised:
            await make_webhook(max_retries=3).publish(envelopes("o-1", 1))

        assert elsewhere.requests == [], "the signed body was re-posted to the Location"
        assert len(http_receiver.requests) == 1, "a redirect was retried"
        assert "other-key" not in str(raised.value)
        assert raised.value.remedy is Remedy.FIX_CONFIGURATION
    finally:
        await elsewhere.stop()


@pytest.mark.parametrize(
    ("status", "kind", "also"),
    [
        (401, ChannelAccessDeniedError, AccessDeniedError),
        (403, ChannelAccessDeniedError, AccessDeniedError),
        (404, ChannelNotFoundError, ResourceNotFoundError),
        (410, ChannelNotFoundError, ResourceNotFoundError),
        (422, ChannelServiceError, ChannelServiceError),
    ],
)
async def test_a_final_answer_is_a_typed_error_and_is_not_retried(
    http_receiver: HttpReceiver, make_webhook: Any, status: int, kind: type, also: type
) -> None:
    http_receiver.fail_next(status, times=5)

    with pytest.raises(kind) as raised:
        await make_webhook(max_retries=3).publish(envelopes("o-1", 1))

    assert isinstance(raised.value, also)
    assert raised.value.status == status
    assert len(http_receiver.requests) == 1


class Sleeps:
    """Records the delays the channel asks for instead of waiting them: the retry schedule without the wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    from messagehandler.channels.volatile import webhook

    recorded = Sleeps()
    monkeypatch.setattr(webhook.asyncio, "sleep", recorded)
    return recorded


async def test_retry_after_in_seconds_is_waited_for_even_beyond_the_back_off_cap(
    http_receiver: HttpReceiver, make_webhook: Any, sleeps: Sleeps
) -> None:
    http_receiver.fail_next(503, headers={"Retry-After": "20"})
    http_receiver.fail_next(429, headers={"Retry-After": "0"})

    await make_webhook(max_retries=3).publish(envelopes("o-1", 1))

    assert sleeps.delays == [20.0, 0.0]
    assert [r.status for r in http_receiver.requests] == [503, 429, 200]


async def test_retry_after_as_an_http_date_is_waited_for(
    http_receiver: HttpReceiver, make_webhook: Any, sleeps: Sleeps
) -> None:
    from email.utils import format_datetime

    later = datetime.now(UTC) + timedelta(seconds=25)
    http_receiver.fail_next(503, headers={"Retry-After": format_datetime(later, usegmt=True)})

    await make_webhook(max_retries=1).publish(envelopes("o-1", 1))

    (delay,) = sleeps.delays
    assert 15 < delay <= 25


async def test_a_retry_after_over_the_cap_ends_the_call_for_a_later_retry(
    http_receiver: HttpReceiver, make_webhook: Any, sleeps: Sleeps
) -> None:
    http_receiver.fail_next(503, headers={"Retry-After": "3600"})

    with pytest.raises(ChannelUnavailableError, match=r"3600 s.*max_retry_after") as raised:
        await make_webhook(max_retries=3, max_retry_after=timedelta(seconds=60)).publish(envelopes("o-1", 1))

    assert isinstance(raised.value, ServiceUnavailableError)
    assert raised.value.retryable
    assert sleeps.delays == []
    assert len(http_receiver.requests) == 1


async def test_server_errors_are_retried_then_delivered(http_receiver: HttpReceiver, make_webhook: Any) -> None:
    http_receiver.fail_next(503)
    http_receiver.fail_next(500)
    sent = envelopes("o-1", 1)

    await make_webhook(max_retries=2).publish(sent)

    assert [r.status for r in http_receiver.requests] == [503, 500, 200]
    assert [CloudEvent.from_json(r.body) for r in http_receiver.delivered()] == sent


async def test_a_client_error_is_final(http_receiver: HttpReceiver, make_webhook: Any) -> None:
    http_receiver.fail_next(400)

    with pytest.raises(ChannelError, match=r"HTTP 400.*0 of 2"):
        await make_webhook(name="hooks", max_retries=3).publish(envelopes("o-1", 2))

    assert len(http_receiver.requests) == 1


async def test_after_the_last_retry_the_call_fails_naming_what_was_delivered(
    http_receiver: HttpReceiver, make_webhook: Any
) -> None:
    sent = envelopes("o-1", 3)
    channel = make_webhook(name="hooks", max_retries=2)
    await channel.publish(sent[:1])
    http_receiver.fail_next(502, times=3)

    with pytest.raises(ChannelUnavailableError, match=r"attempt 3.*'hooks'.*HTTP 502.*0 of 2") as raised:
        await channel.publish(sent[1:])

    assert len(http_receiver.requests) == 4
    assert "hooks" in str(raised.value)


async def test_batch_mode_splits_by_request_size_and_keeps_order(
    http_receiver: HttpReceiver, make_webhook: Any
) -> None:
    sent = envelopes("o-1", 10)
    one = len(sent[0].to_bytes())
    channel = make_webhook(batch=True, max_request_bytes=3 * one + 4)

    await channel.publish(sent)

    requests = http_receiver.delivered()
    assert len(requests) == 4
    assert all(len(r.body) <= 3 * one + 4 for r in requests)
    assert all(r.headers["Content-Type"].startswith("application/cloudevents-batch+json") for r in requests)
    arrived = [CloudEvent.from_json(json.dumps(item)) for r in requests for item in json.loads(r.body)]
    assert arrived == sent


async def test_an_unreachable_receiver_fails_without_leaking_the_url_key(make_webhook: Any) -> None:
    channel = make_webhook("http://127.0.0.1:9/hook?code=super-secret-function-key", max_retries=1)

    with pytest.raises(ChannelError) as raised:
        await channel.publish(envelopes("o-1", 1))

    text = "".join(traceback.format_exception(raised.value)) + repr(channel)
    assert "127.0.0.1:9" in text
    assert "super-secret-function-key" not in text
    assert SECRET not in text


@pytest.mark.parametrize(
    ("url", "secret"),
    [("ftp://host/x", SECRET), ("/relative", SECRET), ("http://h/x", ""), ("http://h/x", "not-a-whsec-secret")],
)
def test_bad_configuration_is_refused(url: str, secret: str) -> None:
    with pytest.raises(ChannelConfigurationError) as raised:
        WebhookChannel(url, secret)
    assert secret not in str(raised.value) or not secret
