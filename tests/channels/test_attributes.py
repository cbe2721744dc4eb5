"""Reading CloudEvents attribute values in every representation a format or binding allows, and refusing the rest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from messagehandler.channels.attributes import (
    check_json_content_type,
    dump_json,
    format_time,
    read_integer,
    read_optional_string,
    read_string,
    read_time,
)
from messagehandler.channels.errors import MalformedEnvelopeError


def test_strings_are_read_from_text_and_utf8_bytes() -> None:
    assert read_string({"id": b"caf\xc3\xa9"}, "id") == "café"
    assert read_optional_string({}, "who") is None
    with pytest.raises(MalformedEnvelopeError, match="is empty"):
        read_string({"id": ""}, "id")
    with pytest.raises(MalformedEnvelopeError, match="not UTF-8"):
        read_string({"id": b"\xff"}, "id")
    with pytest.raises(MalformedEnvelopeError, match="must be a string, not int"):
        read_string({"id": 7}, "id")


def test_integers_are_numbers_or_canonical_strings_and_never_booleans() -> None:
    assert read_integer({"v": b"42"}, "v") == 42
    assert read_integer({"v": -3}, "v") == -3
    assert read_integer({}, "v", default=1) == 1
    for bad in (True, "4.0", " 4", 4.0):
        with pytest.raises(MalformedEnvelopeError, match="must be an integer"):
            read_integer({"v": bad}, "v")
    with pytest.raises(MalformedEnvelopeError, match="missing"):
        read_integer({}, "v")


def test_times_come_as_text_bytes_aware_datetimes_or_amqp_milliseconds() -> None:
    moment = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    assert read_time({"time": b"2024-05-06T07:08:09.123Z"}, "time") == moment
    assert read_time({"time": moment}, "time") == moment
    assert read_time({"time": 1714979289123}, "time", epoch_milliseconds=True) == moment
    with pytest.raises(MalformedEnvelopeError, match="no time zone"):
        read_time({"time": moment.replace(tzinfo=None)}, "time")
    with pytest.raises(MalformedEnvelopeError, match="RFC 3339"):
        read_time({"time": 1714979289123}, "time")
    with pytest.raises(MalformedEnvelopeError, match="missing"):
        read_time({}, "time")


def test_a_naive_time_is_written_as_utc() -> None:
    assert format_time(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "Application/JSON; charset=utf-8", "text/vnd.x+json"]
)
def test_json_content_types_are_accepted(content_type: str | None) -> None:
    check_json_content_type(content_type)


@pytest.mark.parametrize("content_type", ["application/xml", "text/plain", "application/jsonx"])
def test_other_content_types_are_refused(content_type: str) -> None:
    with pytest.raises(MalformedEnvelopeError, match="is not JSON"):
        check_json_content_type(content_type)


def test_writing_values_nested_too_deeply_is_a_typed_error() -> None:
    value: list[object] = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(MalformedEnvelopeError, match="nested too deeply"):
        dump_json(value, "the data")
