"""HMAC signatures of webhook deliveries, for the sender and for receivers in any framework.

A webhook receiver is a public URL: anyone can POST to it. The signature proves the body came
from a holder of the shared secret; signing the timestamp with the body lets receivers refuse a
captured request replayed later. Scheme (documented in docs/channels/webhook.md):

    X-MessageHandler-Timestamp: <unix seconds>
    X-MessageHandler-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>

This module needs nothing beyond the standard library, so receivers can import it alone.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "X-MessageHandler-Signature"
TIMESTAMP_HEADER = "X-MessageHandler-Timestamp"
SCHEME = "sha256"
DEFAULT_TOLERANCE_SECONDS = 300.0

Secret = str | bytes


def _key(secret: Secret) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def compute_signature(secret: Secret, body: bytes, timestamp: int) -> str:
    """The value of the signature header for `body` sent at `timestamp` (unix seconds)."""
    digest = hmac.new(_key(secret), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signature_headers(secret: Secret, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: compute_signature(secret, body, timestamp)}


def verify_signature(
    secrets: Secret | Sequence[Secret],
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when `signature` signs `body` at `timestamp` with one of `secrets` and the timestamp is fresh.

    Pass the raw request body, exactly as received (not re-serialised JSON), and the two header
    values. Several secrets may be given while a secret is being rotated. Comparison is constant
    time; a missing, malformed or stale header gives False rather than an exception, so a receiver
    can answer 401 without a try block.
    """
    sent_at = fresh_timestamp(timestamp, tolerance_seconds, now)
    if not signature or sent_at is None:
        return False
    candidates = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    offered = signature.strip().encode("ascii", "replace")
    matched = False
    for secret in candidates:
        expected = compute_signature(secret, body, sent_at).encode("ascii")
        matched |= hmac.compare_digest(expected, offered)
    return matched


def fresh_timestamp(text: str | None, tolerance_seconds: float, now: float | None = None) -> int | None:
    """The unix seconds in a timestamp header, or None when it is missing, malformed or not within tolerance."""
    if not text:
        return None
    try:
        sent_at = int(text)
    except ValueError:
        return None
    current = time.time() if now is None else now
    return sent_at if abs(current - sent_at) <= tolerance_seconds else None
