"""Volatile channels: pushed, at-most-once, lost when the receiver is down.

`InProcessChannel` and the webhook signature helpers need nothing extra and are exported here;
`webhook` (extra `webhook`) and `eventgrid` (extra `eventgrid`) are imported from their modules.
"""

from messagehandler.channels.volatile.in_process import InProcessChannel, InProcessMessage, Subscription
from messagehandler.channels.volatile.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_signature,
    signature_headers,
    verify_signature,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "InProcessChannel",
    "InProcessMessage",
    "Subscription",
    "compute_signature",
    "signature_headers",
    "verify_signature",
]
