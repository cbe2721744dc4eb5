"""Webhook signatures: what a receiver must accept and what it must refuse."""

from __future__ import annotations

import pytest

from messagehandler.channels.volatile import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_signature,
    signature_headers,
    verify_signature,
)

BODY = b'{"id":"1","data":{"a":1}}'
NOW = 1_700_000_000.0


def signed(
    secret: str = "s3cret",  # noqa: S107 - a test secret
    body: bytes = BODY,
    at: float = NOW,
) -> tuple[str, str]:
    headers = signature_headers(secret, body, now=at)
    return headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]


def test_a_fresh_signature_over_the_exact_body_verifies() -> None:
    signature, timestamp = signed()
    assert signature.startswith("sha256=")
    assert len(signature) == len("sha256=") + 64
    assert verify_signature("s3cret", BODY, signature, timestamp, now=NOW + 299)


def test_the_timestamp_is_part_of_what_is_signed() -> None:
    signature, _ = signed()
    assert not verify_signature("s3cret", BODY, signature, str(int(NOW) + 1), now=NOW)


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("other", BODY, NOW),
        ("s3cret", BODY + b" ", NOW),
        ("s3cret", BODY, NOW + 301),
        ("s3cret", BODY, NOW - 301),
    ],
    ids=["wrong-secret", "tampered-body", "replayed-later", "from-the-future"],
)
def test_refused(secret: str, body: bytes, now: float) -> None:
    signature, timestamp = signed()
    assert not verify_signature(secret, body, signature, timestamp, now=now)


@pytest.mark.parametrize(
    ("signature", "timestamp"),
    [(None, "1700000000"), ("sha256=00", None), ("sha256=00", "yesterday"), ("", "")],
)
def test_missing_or_malformed_headers_are_refused_without_raising(signature: str | None, timestamp: str | None) -> None:
    assert not verify_signature("s3cret", BODY, signature, timestamp, now=NOW)


def test_any_of_several_secrets_verifies_during_rotation() -> None:
    signature, timestamp = signed(secret="new")
    assert verify_signature(["old", b"new"], BODY, signature, timestamp, now=NOW)
    assert not verify_signature(["old", "older"], BODY, signature, timestamp, now=NOW)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert compute_signature("k", BODY, 1_700_000_000) == f"sha256={expected}"
