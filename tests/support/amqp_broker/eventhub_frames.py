"""Let azure-eventhub read proton's frames.

azure-eventhub's copy of pyamqp reads performative fields by index without padding the trailing
ones a peer may omit (AMQP 1.0 section 1.4; azure-servicebus's copy pads them). proton omits them,
the real service does not, so `padded_eventhub_frames` pads them with their null defaults on the
SDK's side, leaving everything else of the SDK as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TRANSFER = 0x14
TRANSFER_FIELDS = 11
MOST_FIELDS = 14


@contextmanager
def padded_eventhub_frames() -> Iterator[None]:
    from azure.eventhub._pyamqp.aio import _transport_async

    decode = _transport_async.decode_frame

    def decode_padded(data: Any) -> tuple[int, list[Any]]:
        kind, fields = decode(data)
        if kind == TRANSFER:
            payload = fields.pop()
            fields += [None] * (TRANSFER_FIELDS - len(fields)) + [payload]
        else:
            fields += [None] * (MOST_FIELDS - len(fields))
        return kind, fields

    _transport_async.decode_frame = decode_padded
    try:
        yield
    finally:
        _transport_async.decode_frame = decode
