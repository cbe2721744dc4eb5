"""Messages that are not messagehandler CloudEvents, one of each kind a receiver must set aside on its own.

Each is the body a producer could put on any channel; every receiver must move it to its poison or
dead-letter path (or skip it, where the channel has none) and hand out the good messages around it.
"""

from __future__ import annotations

import json
from typing import Any

from messagehandler.channels import CloudEvent


def _mutated(template: CloudEvent, **changes: Any) -> bytes:
    raw = json.loads(template.to_json())
    for name, value in changes.items():
        if value is ...:
            raw.pop(name)
        else:
            raw[name] = value
    return json.dumps(raw).encode()


def malformed_bodies(template: CloudEvent) -> dict[str, bytes]:
    """Bodies by what is wrong with them; `template` supplies the parts that are right."""
    return {
        "not-json": b"this is not json",
        "nested-too-deep": b"[" * 30000,
        "json-array": b"[1, 2, 3]",
        "not-a-cloud-event": b'{"not": "a cloud event"}',
        "wrong-spec-version": _mutated(template, specversion="0.3"),
        "missing-id": _mutated(template, id=...),
        "missing-stream-id": _mutated(template, streamid=...),
        "stream-version-not-an-integer": _mutated(template, streamversion=1.5),
        "time-not-rfc3339": _mutated(template, time="yesterday"),
        "binary-data": _mutated(template, data=..., data_base64="AAEC"),
        "data-not-an-object": _mutated(template, data=[1, 2]),
        "not-a-number": template.to_json().replace('"data":{', '"data":{"x":NaN,', 1).encode(),
        "not-utf8": b'{"id": "\xff\xfe"}',
    }
