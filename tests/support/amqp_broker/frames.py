"""Reading a transfer's bytes: a plain message, or a batch (format 0x80013700) to unpack.

A batch's body is a list of `data` sections, each one a whole encoded message; its own annotations
(the partition key of an Event Hubs batch) belong to the batch. proton exposes no message format
on a delivery, so a batch is recognised by its body: data sections that all decode as messages.
"""

from __future__ import annotations

from typing import Any

from proton import Data, Described, Message

DATA_SECTION = 0x75
MESSAGE_ANNOTATIONS_SECTION = 0x72
_SECTION_CODES = range(0x70, 0x79)


def unpack_transfer(raw: bytes) -> tuple[list[Message], dict[Any, Any]]:
    """The messages a transfer carries and the annotations of its envelope."""
    sections = _sections(raw)
    payloads = [value for code, value in sections if code == DATA_SECTION]
    annotations = next((value for code, value in sections if code == MESSAGE_ANNOTATIONS_SECTION), {})
    if payloads and all(_looks_like_message(payload) for payload in payloads):
        return [_decode(bytes(payload)) for payload in payloads], dict(annotations)
    return [_decode(raw)], dict(annotations)


def _sections(raw: bytes) -> list[tuple[int, Any]]:
    sections: list[tuple[int, Any]] = []
    offset = 0
    while offset < len(raw):
        data = Data()
        offset += data.decode(raw[offset:])
        data.rewind()
        data.next()
        value = data.get_object()
        if isinstance(value, Described):
            inner = value.value
            # proton hands out views into its own buffer, gone with `data`: copy them now.
            sections.append((int(value.descriptor), bytes(inner) if isinstance(inner, memoryview) else inner))
    return sections


def _looks_like_message(payload: Any) -> bool:
    if not isinstance(payload, bytes) or len(payload) < 3:
        return False
    return payload[0] == 0x00 and payload[1] == 0x53 and payload[2] in _SECTION_CODES


def _decode(raw: bytes) -> Message:
    message = Message()
    message.decode(raw)
    if isinstance(message.body, memoryview):
        message.body = bytes(message.body)
    return message
