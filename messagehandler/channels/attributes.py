"""CloudEvents attribute values as every format and binding carries them, read and written by one set of rules.

CloudEvents 1.0 gives each attribute a type (String, Integer, Timestamp, URI-reference, ...); the JSON
format, the HTTP binding and the AMQP binding each represent those types their own way, and a reader
MUST accept both the native form and the canonical string. Each `read_*` function takes any of those
forms and returns the Python value, or raises `MalformedEnvelopeError` naming the attribute, so that a
receiver can move the message aside instead of failing its batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from messagehandler.channels.errors import MalformedEnvelopeError

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_INTEGER = re.compile(r"-?\d+")
_JSON_SUBTYPE = re.compile(r"^[^/;\s]+/(?:[^;\s]*\+)?json$")
_SEGMENT_SAFE = ":@!$&'()*+,;=-._~"
"""What RFC 3986 allows unencoded in one path segment (`pchar`), besides letters and digits."""


def format_time(moment: datetime) -> str:
    """RFC 3339 with an offset (`+00:00` for UTC), as the CloudEvents Timestamp type requires."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def default_source(stream_type: str) -> str:
    """`/messagehandler/{stream type}`, percent-encoded so that any stream type gives a URI-reference."""
    return "/messagehandler/" + quote(stream_type, safe=_SEGMENT_SAFE)


def read_string(attributes: Mapping[str, Any], name: str) -> str:
    """A required String (or URI-reference) attribute, not empty."""
    value = read_optional_string(attributes, name)
    if value is None:
        raise MalformedEnvelopeError(f"attribute {name!r} is missing")
    if not value:
        raise MalformedEnvelopeError(f"attribute {name!r} is empty")
    return value


def read_optional_string(attributes: Mapping[str, Any], name: str) -> str | None:
    """An optional String attribute; bytes are read as UTF-8, as the AMQP clients hand strings over."""
    value = attributes.get(name)
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedEnvelopeError(f"attribute {name!r} is not UTF-8 text") from None
    if not isinstance(value, str):
        raise MalformedEnvelopeError(f"attribute {name!r} must be a string, not {type(value).__name__}")
    return value


def read_integer(attributes: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    """An Integer attribute: a number, or its canonical string (what the HTTP and AMQP bindings allow)."""
    value = attributes.get(name)
    if value is None:
        if default is None:
            raise MalformedEnvelopeError(f"attribute {name!r} is missing")
        return default
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise MalformedEnvelopeError(f"attribute {name!r} must be an integer, not {value!r:.40}")


def read_time(attributes: Mapping[str, Any], name: str, *, epoch_milliseconds: bool = False) -> datetime:
    """A Timestamp attribute: RFC 3339 text (any case of `T` and `Z`), or an aware `datetime`.

    With `epoch_milliseconds` an integer is read as an AMQP timestamp (milliseconds since the Unix
    epoch), which is how the AMQP clients hand a native timestamp over.
    """
    value = attributes.get(name)
    if value is None:
        raise MalformedEnvelopeError(f"attribute {name!r} is missing")
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise MalformedEnvelopeError(f"attribute {name!r} has no time zone")
        return value
    if epoch_milliseconds and isinstance(value, int) and not isinstance(value, bool):
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
    if isinstance(value, str):
        parsed = _parse_rfc3339(value)
        if parsed is not None:
            return parsed
    raise MalformedEnvelopeError(f"attribute {name!r} is not an RFC 3339 timestamp: {value!r:.40}")


def _parse_rfc3339(text: str) -> datetime | None:
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, offset_hours, offset_minutes = match.groups()
    if zulu:
        zone = UTC
    else:
        offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        if offset >= timedelta(hours=24):
            return None
        zone = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    # RFC 3339 allows a leap second (:60); Python cannot hold one, so it becomes the next second.
    leap = int(second) == 60
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), 59 if leap else int(second), micro, tzinfo=zone
        )
    except ValueError:
        return None
    return moment + timedelta(seconds=1) if leap else moment


def check_json_content_type(content_type: str | None) -> None:
    """The data of a messagehandler envelope is JSON: `datacontenttype` absent, `*/json` or `*/*+json`."""
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not _JSON_SUBTYPE.match(media_type):
        raise MalformedEnvelopeError(f"data content type {content_type!r} is not JSON")


def _refuse_constant(name: str) -> Any:
    raise MalformedEnvelopeError(f"{name} is not a JSON number")


def load_json(text: str | bytes, what: str) -> Any:
    """JSON text as Python values; anything that is not standard JSON is a `MalformedEnvelopeError`.

    Refuses `NaN` and `Infinity` (not JSON, and no JSON reader elsewhere could read them back) and
    nesting too deep for the parser, which Python reports as a `RecursionError`.
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedEnvelopeError(f"{what} is nested too deeply to be read") from None
    except UnicodeDecodeError:
        raise MalformedEnvelopeError(f"{what} is not UTF-8 text") from None
    except MalformedEnvelopeError:
        raise
    except ValueError as error:
        raise MalformedEnvelopeError(f"{what} is not JSON: {error}") from None


def dump_json(value: Any, what: str) -> str:
    """Compact JSON text of values that `load_json` produced."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        raise MalformedEnvelopeError(f"{what} is nested too deeply to be written") from None
