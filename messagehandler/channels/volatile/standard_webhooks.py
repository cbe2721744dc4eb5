"""Standard Webhooks signatures (https://www.standardwebhooks.com), for the sender and for receivers in any framework.

What receivers' libraries verify: three headers,

    webhook-id: msg_...                       the same on every retry of one delivery: an idempotency key
    webhook-timestamp: 1674087231             unix seconds of this attempt
    webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>

with the key given as `whsec_<base64>` (at least 24 random bytes). Several space-separated signatures
let a secret be rotated without downtime: the sender signs with the old and the new key, a receiver
accepts any one that matches. This module needs only the standard library, so a receiver can import it
alone; the `standardwebhooks` package verifies the same headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as random_secrets
import time
from collections.abc import Iterable, Mapping, Sequence

from messagehandler.channels.volatile.signing import fresh_timestamp

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the marker of the format, not a secret
VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300.0
MIN_KEY_BYTES = 24

WebhookSecret = str | bytes
"""A `whsec_<base64>` string, or the key's raw bytes."""


def generate_secret(size: int = 32) -> str:
    """A new random secret in the `whsec_` form, to share with the receiver."""
    if not MIN_KEY_BYTES <= size <= 64:
        raise ValueError(f"a Standard Webhooks key has {MIN_KEY_BYTES} to 64 bytes")
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(size)).decode("ascii")


def secret_key(secret: WebhookSecret) -> bytes:
    """The HMAC key of a secret; `ValueError` (naming no secret) for one that is not `whsec_<base64>` or bytes."""
    if isinstance(secret, bytes):
        key = secret
    elif secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the webhook secret after 'whsec_' is not base64") from None
    else:
        raise ValueError("a Standard Webhooks secret is 'whsec_' followed by base64, or the key's bytes")
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def message_id(event_ids: Iterable[str]) -> str:
    """The `webhook-id` of a delivery of these events: the same for every retry, and free of `.`."""
    digest = hashlib.sha256("\n".join(event_ids).encode("utf-8")).hexdigest()
    return f"msg_{digest[:32]}"


def sign(secret: WebhookSecret, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of `body` sent as `msg_id` at `timestamp` (unix seconds)."""
    if "." in msg_id:
        raise ValueError("a webhook id must not contain '.'")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_headers(
    secrets: WebhookSecret | Sequence[WebhookSecret], msg_id: str, body: bytes, *, now: float | None = None
) -> dict[str, str]:
    """The three headers of one attempt; with several secrets (a rotation), one signature for each."""
    timestamp = int(time.time() if now is None else now)
    keys = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    signatures = " ".join(sign(secret, msg_id, timestamp, body) for secret in keys)
    return {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signatures}


def verify(
    secrets: WebhookSecret | Sequence[WebhookSecret],
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when one `v1` signature in `headers` signs `body` with one of `secrets` and the timestamp is fresh.

    Pass the raw request body exactly as received and the request's headers (any mapping; names are
    matched case-insensitively). A missing, malformed or stale header gives False rather than an
    exception, so a receiver can answer 401 without a try block. Comparison is constant time.
    """
    found = {name.lower(): value for name, value in headers.items()}
    msg_id, sent, offered = (found.get(name) for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))
    timestamp = fresh_timestamp(sent, tolerance_seconds, now)
    if not msg_id or not offered or "." in msg_id or timestamp is None:
        return False
    keys = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    expected = [sign(secret, msg_id, timestamp, body).encode("ascii") for secret in keys]
    matched = False
    for candidate in offered.split():
        version, _, _signature = candidate.partition(",")
        if version != VERSION:
            continue
        for signature in expected:
            matched |= hmac.compare_digest(signature, candidate.encode("ascii", "replace"))
    return matched
