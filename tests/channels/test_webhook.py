"""Webhook channel against a local HTTP receiver: signing, content types, retries, batching, secrets."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from messagehandler.channels import ChannelError, CloudEvent
from messagehandler.channels.errors import ChannelConfigurationError
from messagehandler.channels.volatile import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from messagehandler.channels.volatile.webhook import WebhookChannel
from tests.channels.http_receiver import HttpReceiver
from tests.channels.support import envelopes

SECRET = "webhook-test-secret"
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


async def test_each_envelope_is_one_signed_structured_request(http_receiver: HttpReceiver, make_webhook: Any) -> None:
    sent = envelopes("o-1", 2)
    await make_webhook(headers={"X-Tenant": "t1"}).publish(sent)

    requests = http_receiver.delivered()
    assert [CloudEvent.from_json(r.body) for r in requests] == sent
    for request in requests:
        assert request.headers["Content-Type"] == "application/cloudevents+json; charset=utf-8"
        assert request.headers["X-Tenant"] == "t1"
        assert abs(int(request.headers[TIMESTAMP_HEADER]) - time.time()) < 60
        assert verify_signature(
            SECRET, request.body, request.headers[SIGNATURE_HEADER], request.headers[TIMESTAMP_HEADER]
        )
        assert not verify_signature(
            "wrong", request.body, request.headers[SIGNATURE_HEADER], request.headers[TIMESTAMP_HEADER]
        )


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

    with pytest.raises(ChannelError, match=r"'hooks'.*3 attempt\(s\).*HTTP 502.*0 of 2") as raised:
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


@pytest.mark.parametrize(("url", "secret"), [("ftp://host/x", SECRET), ("/relative", SECRET), ("http://h/x", "")])
def test_bad_configuration_is_refused(url: str, secret: str) -> None:
    with pytest.raises(ChannelConfigurationError):
        WebhookChannel(url, secret)
