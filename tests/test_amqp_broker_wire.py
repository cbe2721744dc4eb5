"""The test broker's wire: performatives proton sends with omitted trailing fields reach the SDK with all of them."""

from __future__ import annotations

from azure.eventhub._pyamqp._decode import decode_frame

from tests.support.amqp_broker.wire import FIELDS, with_all_fields


def frame(code: int, fields: bytes, count: int, payload: bytes = b"") -> bytes:
    body = bytes([0x00, 0x53, code, 0xC0, len(fields) + 1, count]) + fields + payload
    return (8 + len(body)).to_bytes(4, "big") + bytes([2, 0, 0, 0]) + body


def test_a_transfer_with_two_fields_reaches_the_decoder_with_eleven_and_its_payload() -> None:
    payload = b"\x00\x53\x75\xa0\x02hi"
    sent = frame(0x14, b"\x43\x43", 2, payload)  # handle 0, delivery-id 0, then the message

    padded = with_all_fields(sent)

    kind, fields = decode_frame(memoryview(padded)[8:])
    assert kind == 0x14
    assert len(fields) == FIELDS[0x14] + 1
    assert fields[:2] == [0, 0]
    assert fields[2:11] == [None] * 9
    assert bytes(fields[11]) == payload


def test_a_complete_performative_and_a_heartbeat_pass_unchanged() -> None:
    close = frame(0x18, b"\x40", 1)
    heartbeat = (8).to_bytes(4, "big") + bytes([2, 0, 0, 0])

    assert with_all_fields(close) == close
    assert with_all_fields(heartbeat) == heartbeat
