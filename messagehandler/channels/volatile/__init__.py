"""Volatile channels: pushed, at-most-once, lost when the receiver is down.

`InProcessChannel`, the Standard Webhooks helpers (`standard_webhooks`), the earlier signature helpers
and the decoding of received HTTP requests (`http_events`) need nothing extra and are exported here;
`webhook` (extra `webhook`) and `eventgrid` (extra `eventgrid`) are imported from their modules.
"""

from messagehandler.channels.volatile import standard_webhooks
from messagehandler.channels.volatile.in_process import InProcessChannel, InProcessMessage, Subscription
from messagehandler.channels.volatile.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_signature,
    signature_headers,
    verify_signature,
)
from messagehandler.channels.volatile.standard_webhooks import generate_secret
from messagehandler.channels.volatile.standard_webhooks import verify as verify_webhook

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "InProcessChannel",
    "InProcessMessage",
    "Subscription",
    "compute_signature",
    "generate_secret",
    "signature_headers",
    "standard_webhooks",
    "verify_signature",
    "verify_webhook",
]
