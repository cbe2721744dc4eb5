"""Standard Webhooks signatures: the reference test vector, the reference library both ways, rotation and refusals."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from messagehandler.channels.volatile import standard_webhooks

# The test vector of the Standard Webhooks reference implementation (libraries/python/tests/test_webhooks.py).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
NOW = float(VECTOR_TIMESTAMP + 10)


def vector_headers(signature: str = VECTOR_SIGNATURE) -> dict[str, str]:
    return {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP), "webhook-signature": signature}


def test_the_reference_test_vector_is_signed_and_verified() -> None:
    assert standard_webhooks.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    assert standard_webhooks.verify(VECTOR_SECRET, VECTOR_BODY, vector_headers(), now=NOW)


def test_the_reference_library_verifies_our_headers_and_we_verify_its_signatures() -> None:
    secret = standard_webhooks.generate_secret()
    body = b'{"specversion":"1.0"}'
    headers = standard_webhooks.signature_headers(secret, "msg_ours", body)

    assert Webhook(secret).verify(body, headers, json_parse=False) is None

    theirs = Webhook(secret).sign("msg_theirs", datetime.now(UTC), body.decode())
    assert standard_webhooks.verify(
        secret,
        body,
        {"Webhook-Id": "msg_theirs", "Webhook-Timestamp": headers["webhook-timestamp"], "Webhook-Signature": theirs},
    )


def test_during_a_rotation_each_secret_signs_and_either_verifies() -> None:
    old, new = standard_webhooks.generate_secret(), standard_webhooks.generate_secret(24)
    headers = standard_webhooks.signature_headers([new, old], "msg_1", VECTOR_BODY, now=NOW)

    assert len(headers["webhook-signature"].split()) == 2
    assert standard_webhooks.verify(old, VECTOR_BODY, headers, now=NOW)
    assert standard_webhooks.verify([standard_webhooks.generate_secret(), new], VECTOR_BODY, headers, now=NOW)


@pytest.mark.parametrize(
    ("body", "headers", "now"),
    [
        pytest.param(VECTOR_BODY + b" ", vector_headers(), NOW, id="body-changed"),
        pytest.param(VECTOR_BODY, vector_headers(), VECTOR_TIMESTAMP + 301.0, id="too-old"),
        pytest.param(VECTOR_BODY, vector_headers(), VECTOR_TIMESTAMP - 301.0, id="too-new"),
        pytest.param(VECTOR_BODY, {**vector_headers(), "webhook-id": "msg_other"}, NOW, id="other-id"),
        pytest.param(VECTOR_BODY, {**vector_headers(), "webhook-timestamp": "soon"}, NOW, id="bad-timestamp"),
        pytest.param(VECTOR_BODY, vector_headers("v2," + VECTOR_SIGNATURE[3:]), NOW, id="other-version"),
        pytest.param(VECTOR_BODY, vector_headers("v1,bm90IGl0"), NOW, id="wrong-signature"),
        pytest.param(VECTOR_BODY, {"webhook-id": VECTOR_ID}, NOW, id="headers-missing"),
        pytest.param(VECTOR_BODY, {**vector_headers(), "webhook-id": "msg.dotted"}, NOW, id="dot-in-id"),
    ],
)
def test_a_request_that_does_not_verify_gives_false(body: bytes, headers: dict[str, str], now: float) -> None:
    assert not standard_webhooks.verify(VECTOR_SECRET, body, headers, now=now)


@pytest.mark.parametrize("secret", ["plain-text", "whsec_not base64!", "whsec_", b""])
def test_a_secret_that_is_not_whsec_base64_is_refused_without_naming_it(secret: str | bytes) -> None:
    with pytest.raises(ValueError, match="secret") as raised:
        standard_webhooks.secret_key(secret)
    assert not secret or str(secret) not in str(raised.value)


def test_generated_secrets_hold_at_least_24_random_bytes() -> None:
    secret = standard_webhooks.generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert secret != standard_webhooks.generate_secret()
    with pytest.raises(ValueError, match="24 to 64"):
        standard_webhooks.generate_secret(16)


def test_the_webhook_id_of_a_delivery_is_stable_and_free_of_dots() -> None:
    first = standard_webhooks.message_id(["a.b", "c"])
    assert first == standard_webhooks.message_id(["a.b", "c"])
    assert first != standard_webhooks.message_id(["a.b"])
    assert "." not in first
    with pytest.raises(ValueError, match=r"'\.'"):
        standard_webhooks.sign(VECTOR_SECRET, "msg.1", 1, b"")
