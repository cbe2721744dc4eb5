"""Records to JSON-able values and back, whatever kind of class the read model uses.

Pydantic models and dataclasses go through pydantic's `TypeAdapter`, so datetimes, enums and nested
models survive a checkpoint or a search index. A plain class is stored as its `__dict__`, which
round-trips only JSON-native attribute values (str, numbers, bool, None, lists, dicts).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from messagehandler.projections.errors import CorruptCheckpointError

R = TypeVar("R")


class RecordCodec(Generic[R]):
    """Dump records of one type to JSON-able values and load them back."""

    def __init__(self, record_type: type[R]) -> None:
        self.record_type = record_type
        structured = issubclass(record_type, BaseModel) or dataclasses.is_dataclass(record_type)
        self._adapter: TypeAdapter[R] | None = TypeAdapter(record_type) if structured else None

    def dump(self, record: R) -> Any:
        if self._adapter is not None:
            return self._adapter.dump_python(record, mode="json")
        return to_jsonable_python(vars(record))

    def load(self, data: Any) -> R:
        """Raises CorruptCheckpointError when `data` does not fit the record type."""
        if self._adapter is not None:
            try:
                return self._adapter.validate_python(data)
            except ValidationError as error:
                raise CorruptCheckpointError(f"stored {self.record_type.__qualname__} is invalid: {error}") from None
        if not isinstance(data, dict):
            raise CorruptCheckpointError(f"stored {self.record_type.__qualname__} is not an object: {data!r:.80}")
        record = self.record_type.__new__(self.record_type)
        vars(record).update(data)
        return record


_codecs: dict[type[Any], RecordCodec[Any]] = {}


def codec_for(record_type: type[R]) -> RecordCodec[R]:
    codec = _codecs.get(record_type)
    if codec is None:
        codec = _codecs[record_type] = RecordCodec(record_type)
    return codec
