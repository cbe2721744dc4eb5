"""Envelopes against the CloudEvents 1.0 standard, with the official CloudEvents SDK as the oracle both ways.

What leaves the process must parse and validate with the official SDK (JSON format, HTTP and AMQP
bindings), and what the official SDK writes must be read here. Reading is tolerant where the standard
allows variants (null attributes, any case of `T`/`Z`, integers as canonical strings, native AMQP
timestamps) and refuses, with `MalformedEnvelopeError`, what is not a messagehandler envelope.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.bindings import amqp, http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as OfficialCloudEvent

from messagehandler.channels import CloudEvent
from messagehandler.channels.errors import MalformedEnvelopeError
from messagehandler.channels.transactional.servicebus_messages import cloud_event_properties, to_message
from messagehandler.channels.volatile.http_events import decode_http_request
from tests.channels.malformed import malformed_bodies
from tests.channels.support import envelopes

# RFC 3986 path-absolute: "/" followed by segments of pchar (unreserved, pct-encoded, sub-delims, ":", "@").
PATH_ABSOLUTE = re.compile(r"(/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)+")


def official(envelope: CloudEvent) -> OfficialCloudEvent:
    """The same event built with the official SDK, from our attributes as the standard types them."""
    attributes: dict[str, Any] = envelope.attributes()
    attributes["time"] = envelope.time
    return OfficialCloudEvent(attributes=attributes, data=json.loads(envelope.data))


def with_extensions(envelope: CloudEvent) -> CloudEvent:
    return replace(envelope, causation_id="cause-1", tenant_id="tenant-1", who="ada")


def test_our_json_is_read_and_validated_by_the_official_sdk() -> None:
    ours = with_extensions(envelopes("o-1", 1)[0])

    theirs = JSONFormat().read(None, ours.to_bytes())

    assert theirs.get_attributes() == {**official(ours).get_attributes()}
    assert theirs.get_data() == json.loads(ours.data)


def test_json_the_official_sdk_writes_is_read() -> None:
    ours = with_extensions(envelopes("o-1", 1)[0])

    assert CloudEvent.from_json(JSONFormat().write(official(ours))) == ours


def test_http_binary_mode_both_ways() -> None:
    ours = with_extensions(envelopes("o-1", 1)[0])
    message = http.to_binary(official(ours), JSONFormat())

    decoded = decode_http_request(message.headers, message.body)

    assert decoded.failures == []
    assert decoded.envelopes == [ours]
    structured = http.from_http(
        http.HTTPMessage({"content-type": "application/cloudevents+json"}, ours.to_bytes()), JSONFormat()
    )
    assert structured.get_id() == ours.id


def test_http_header_values_are_percent_decoded_and_quoted_values_are_read() -> None:
    ours = replace(envelopes("o-1", 1)[0], who='Ada "€ 😀" Lovelace')
    message = http.to_binary(official(ours), JSONFormat())
    assert "%E2%82%AC" in message.headers["ce-who"]

    assert decode_http_request(message.headers, message.body).envelopes == [ours]
    quoted = {**message.headers, "ce-who": '"Ada \\"quoted\\""'}
    assert decode_http_request(quoted, message.body).envelopes[0].who == 'Ada "quoted"'


def test_a_batch_with_a_malformed_item_keeps_the_good_ones() -> None:
    good = envelopes("o-1", 2)
    items = [json.loads(good[0].to_json()), {"specversion": "0.3"}, "text", json.loads(good[1].to_json())]
    headers = {"Content-Type": "application/cloudevents-batch+json; charset=utf-8"}

    decoded = decode_http_request(headers, json.dumps(items).encode())

    assert decoded.envelopes == good
    assert [(failure.index, failure.id) for failure in decoded.failures] == [(1, None), (2, None)]
    assert "spec version" in decoded.failures[0].reason


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "application/cloudevents+avro"}, b"..."),
        ({"Content-Type": "application/json"}, b"{}"),
        ({"Content-Type": "application/cloudevents-batch+json"}, b"{}"),
        ({"Content-Type": "application/cloudevents+json"}, b"[" * 30000),
    ],
)
def test_a_request_that_holds_no_envelope_is_one_failure(headers: dict[str, str], body: bytes) -> None:
    decoded = decode_http_request(headers, body)

    assert decoded.envelopes == []
    assert len(decoded.failures) == 1


def test_the_amqp_binary_mapping_both_ways() -> None:
    ours = with_extensions(envelopes("o-1", 1)[0])
    theirs = amqp.to_binary(official(ours), JSONFormat())
    assert isinstance(theirs.application_properties["cloudEvents_time"], int)  # an AMQP timestamp, in milliseconds

    read = CloudEvent.from_attributes(
        {**cloud_event_properties(theirs.application_properties), "datacontenttype": "application/json"},
        ours.data,
        epoch_milliseconds=True,
    )
    assert replace(read, time=ours.time) == ours
    assert abs(read.time - ours.time) < timedelta(milliseconds=1)

    message = to_message(ours, sessions=False)
    properties = {
        name: value["VALUE"] if isinstance(value, dict) else value
        for name, value in (message.application_properties or {}).items()
    }
    back = amqp.from_binary(
        amqp.AMQPMessage({"content-type": message.content_type}, properties, ours.data.encode()), JSONFormat()
    )
    assert back.get_id() == ours.id
    assert back.get_extension("streamversion") == ours.stream_version


@pytest.mark.parametrize("stream_type", ["Order Line", "Bestellung/Zeile", "Ordre#1?x", "Ünïcødé 😀", "50%"])
def test_the_default_source_is_a_uri_reference_for_any_stream_type(stream_type: str) -> None:
    envelope = envelopes("o-1", 1, stream_type=stream_type)[0]

    assert PATH_ABSOLUTE.fullmatch(envelope.source), envelope.source
    assert envelope.source.startswith("/messagehandler/")
    assert JSONFormat().read(None, envelope.to_bytes()).get_source() == envelope.source


def test_a_null_attribute_counts_as_absent() -> None:
    sent = envelopes("o-1", 1)[0]
    raw = {**json.loads(sent.to_json()), "schemaversion": None, "subject": None, "who": None, "unknown": None}

    read = CloudEvent.from_json(json.dumps(raw))

    assert read == sent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-06t07:08:09z", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("2024-05-06T07:08:09.123456789Z", datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)),
        ("2024-05-06 07:08:09+02:00", datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))),
        ("2024-05-06T07:08:09-00:30", datetime(2024, 5, 6, 7, 38, 9, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2017, 1, 1, tzinfo=UTC)),
    ],
)
def test_every_rfc3339_form_of_the_time_is_read(text: str, expected: datetime) -> None:
    raw = {**json.loads(envelopes("o-1", 1)[0].to_json()), "time": text}

    assert CloudEvent.from_json(json.dumps(raw)).time == expected


@pytest.mark.parametrize(
    "text", ["2024-05-06T07:08:09", "2024-05-06", "2024-13-06T07:08:09Z", "2024-05-06T07:08:09+25:00"]
)
def test_a_time_that_is_not_rfc3339_is_refused(text: str) -> None:
    raw = {**json.loads(envelopes("o-1", 1)[0].to_json()), "time": text}

    with pytest.raises(MalformedEnvelopeError, match="RFC 3339"):
        CloudEvent.from_json(json.dumps(raw))


def test_integers_are_read_from_their_canonical_strings_too() -> None:
    sent = envelopes("o-1", 1, start=7)[0]
    raw = {**json.loads(sent.to_json()), "streamversion": "7", "schemaversion": "1"}

    assert CloudEvent.from_json(json.dumps(raw)) == sent


@pytest.mark.parametrize("name", sorted(malformed_bodies(envelopes("template", 1)[0])))
def test_what_is_not_a_messagehandler_envelope_is_refused_with_a_typed_error(name: str) -> None:
    body = malformed_bodies(envelopes("template", 1)[0])[name]

    with pytest.raises(MalformedEnvelopeError):
        CloudEvent.from_json(body)
