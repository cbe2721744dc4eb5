"""The write-side half of "what append accepts, load returns": JSON that would not read back as it was written.

Some payloads serialise without complaint and then never load the same: NaN and infinity (JSON has
no such numbers: they would come back as null, or not parse), containers nested deeper than JSON
readers go (Python's and .NET's parsers stop), integers longer than readers convert, and strings
holding a lone UTF-16 surrogate (no UTF-8 or UTF-16 encoder accepts one). An event carrying any of
these is refused before it is stored, with an error naming the field.

The checks read the JSON the serializer produced and cost a few substring scans per event: only a
body that could hold a problem (a `NaN` or `Infinity` token, more brackets than the depth limit, a
run of digits longer than the integer limit, or `null` where a nested model would hide a NaN) is
examined closely, and only a body that has one is walked to name the field.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
import re
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any

from pydantic import BaseModel

from messagehandler.errors import UnstorableEventError
from messagehandler.events.event import Event

MAX_DEPTH = 64
"""Containers nested at most this deep, the event's own object counting as 1: the default limit of
.NET's System.Text.Json and Json.NET, and well inside what pydantic and Python's `json` read."""

MAX_INT_DIGITS = 4300
"""Python's default `sys.get_int_max_str_digits()`: neither `json.loads` nor pydantic reads a longer integer."""

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LONG_NUMBER = re.compile(rf"[0-9]{{{MAX_INT_DIGITS + 1}}}")
_NON_FINITE_TOKEN = re.compile(r"NaN|Infinity")
_TOO_LONG = 10**MAX_INT_DIGITS

_hides_floats: dict[type[BaseModel], bool] = {}


def check_body(event: Event, body: str) -> None:
    """Raise `UnstorableEventError` when `body`, the JSON of `event`, would not load back as `event`."""
    found = body_problem(event, body)
    if found is not None:
        _refuse(event, found)


def body_problem(model: BaseModel, body: str) -> tuple[str, str] | None:
    """The field and problem that keep `body`, the JSON of `model`, from loading back as `model`; None if it would.

    Events are checked with it before they are stored (`check_body`), aggregate snapshots before they
    are taken (`messagehandler.repository.snapshots`).
    """
    if len(body) > 2 * MAX_DEPTH and body.count("[") + body.count("{") > MAX_DEPTH:
        depth = json_depth(body)
        if depth > MAX_DEPTH:
            return _find(model, _nothing) or ("", f"nests containers {depth} levels deep")
    suspicious = "NaN" in body or "Infinity" in body
    if suspicious and _NON_FINITE_TOKEN.search(_outside_strings(body)) is not None:
        return _find(model, _non_finite) or ("", "is NaN or infinite")
    if len(body) > MAX_INT_DIGITS and _LONG_NUMBER.search(body) and _LONG_NUMBER.search(_outside_strings(body)):
        return _find(model, _long_integer) or ("", f"holds an integer of more than {MAX_INT_DIGITS} digits")
    if "\ufffd" in body:  # pydantic replaces a lone surrogate in a dict key with U+FFFD
        found = _find(model, _lone_surrogate)
        if found is not None:
            return found
    if (suspicious or "null" in body) and _nested_models_hide_floats(type(model)):
        return _find(model, _non_finite)
    return None


def explain_failure(model: BaseModel) -> tuple[str, str] | None:
    """The field and problem that made serialisation fail, when it is one of the known kinds."""
    return _find(model, _any_problem)


def json_depth(text: str) -> int:
    """How deep the containers of a JSON text nest, strings ignored."""
    brackets = _NOT_BRACKET.sub("", _outside_strings(text))
    if not brackets:
        return 0
    return max(accumulate(1 if bracket in "[{" else -1 for bracket in brackets))


def _refuse(event: Event, found: tuple[str, str]) -> None:
    field, problem = found
    raise UnstorableEventError(
        type(event).__event_type__, problem, field=field, stream=_stream(event), version=_version(event)
    )


def _stream(event: Event) -> str | None:
    return event.metadata.stream if event.has_metadata else None


def _version(event: Event) -> int | None:
    return event.metadata.version if event.has_metadata else None


def _outside_strings(body: str) -> str:
    return _STRING.sub('""', body)


def _nested_models_hide_floats(cls: type[BaseModel]) -> bool:
    """Whether some model in the class's schema writes NaN as null or "NaN" instead of a token we can see."""
    hides = _hides_floats.get(cls)
    if hides is None:
        schema = getattr(cls, "__pydantic_core_schema__", None)
        hides = _hides_floats[cls] = schema is None or any(_inf_nan_modes(schema) - {"constants"})
    return hides


def _inf_nan_modes(schema: Any) -> set[str]:
    modes: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") in ("model", "dataclass", "typed-dict"):
                modes.add((node.get("config") or {}).get("ser_json_inf_nan", "null"))
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return modes


def _non_finite(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"is {value}: JSON has no NaN or infinity, so it would not read back"
    if isinstance(value, decimal.Decimal) and not value.is_finite():
        return f"is {value}: JSON has no NaN or infinity, so it would not read back"
    return None


def _long_integer(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _TOO_LONG:
        return f"is an integer of more than {MAX_INT_DIGITS} digits, longer than JSON readers accept"
    return None


def _nothing(value: Any) -> str | None:
    return None


def _lone_surrogate(value: Any) -> str | None:
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            return (
                f"holds a lone surrogate {value[error.start]!r} at position {error.start}, "
                "which no UTF-8 or UTF-16 text can carry"
            )
    return None


def _any_problem(value: Any) -> str | None:
    return _non_finite(value) or _long_integer(value) or _lone_surrogate(value)


def _find(model: BaseModel, problem_of: Callable[[Any], str | None]) -> tuple[str, str] | None:
    """The first field (as a path like `lines[2].price`) whose value has a problem, depth included."""
    for path, value, children, depth in _walk(model, "", 1):
        if children is not None and depth > MAX_DEPTH:
            return path, f"nests containers more than {MAX_DEPTH} levels deep, more than JSON readers accept"
        problem = problem_of(value)
        if problem is not None:
            return path, problem
    return None


def _walk(value: Any, path: str, depth: int) -> Iterator[tuple[str, Any, list[tuple[str, Any]] | None, int]]:
    """Every value under `value` with its path, its children if it is a container, and its JSON depth."""
    children = _children(value, path)
    yield path, value, children, depth
    if children is None or depth > MAX_DEPTH:
        return
    for child_path, child in children:
        yield from _walk(child, child_path, depth + 1)


def _children(value: Any, path: str) -> list[tuple[str, Any]] | None:
    prefix = f"{path}." if path else ""
    if isinstance(value, BaseModel):
        fields = {**value.__dict__, **(value.__pydantic_extra__ or {})}
        return [(f"{prefix}{name}", item) for name, item in fields.items()]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f"{prefix}{f.name}", getattr(value, f.name)) for f in dataclasses.fields(value)]
    if isinstance(value, dict):
        children: list[tuple[str, Any]] = []
        for key, item in value.items():
            if isinstance(key, str) and _lone_surrogate(key) is not None:
                children.append((f"{path}[{key!r}] (the key)", key))
            children.append((f"{path}[{key!r}]", item))
        return children
    if isinstance(value, list | tuple | set | frozenset):
        return [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    return None
