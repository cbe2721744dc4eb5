"""Which fields of a record are searchable text, and the text they hold."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from messagehandler.errors import ConfigurationError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def text_fields(record_type: type[Any], fields: Sequence[str] | None) -> tuple[str, ...]:
    """`fields` as given, or the fields of a pydantic model or dataclass annotated as str or list[str]."""
    if fields is not None:
        if not fields:
            raise ConfigurationError(f"a search index of {record_type.__qualname__} needs at least one field")
        return _checked(record_type, tuple(fields))
    if issubclass(record_type, BaseModel):
        annotations = {name: info.annotation for name, info in record_type.model_fields.items()}
    elif dataclasses.is_dataclass(record_type):
        hints = typing.get_type_hints(record_type)
        annotations = {f.name: hints.get(f.name) for f in dataclasses.fields(record_type)}
    else:
        raise ConfigurationError(
            f"{record_type.__qualname__} is a plain class: name its searchable fields with fields=[...]"
        )
    found = tuple(name for name, annotation in annotations.items() if _is_text(annotation))
    if not found:
        raise ConfigurationError(f"{record_type.__qualname__} has no str or list[str] fields to search")
    return _checked(record_type, found)


def _checked(record_type: type[Any], fields: tuple[str, ...]) -> tuple[str, ...]:
    """Field names become column names, so they must be plain identifiers."""
    for name in fields:
        if not _IDENTIFIER.match(name):
            raise ConfigurationError(f"field {name!r} of {record_type.__qualname__} is not a plain identifier")
    return fields


def _is_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    origin = typing.get_origin(annotation)
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return len(arguments) == 1 and _is_text(arguments[0])
    return origin in (list, tuple, set, frozenset) and arguments[:1] == [str]


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, set, frozenset)):
        return " ".join(str(v) for v in value)
    return str(value)
