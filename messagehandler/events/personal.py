"""Personal data marked in the event model: which fields hold it, whose it is, what it reads as once erased.

A field is marked with `Annotated[str, PersonalData]`; a serializer holding a keyring encrypts the
marked fields with the data subject's key before an event leaves the process (see
`messagehandler.personal`). Whose data it is defaults to the stream id; `Annotated[str, DataSubject]`
names a field of the event instead. A marked field reads back as its erased value once the subject's
key is forgotten, so that value must validate as the field's type: `None` for an optional field, or
the one given with `PersonalData(erased=...)`. Fields of nested models (also in lists and dict
values) can be marked; a marker inside a type argument (`list[Annotated[str, PersonalData]]`)
cannot, mark the whole field instead.

The checks run once per class, the first time an event of it is serialised or examined, and raise
`PersonalDataDefinitionError` naming the class and the field.
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import json
import types
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from messagehandler.errors import (
    ConfigurationError,
    EventDefinitionError,
    MessageHandlerError,
    Remedy,
    SerializationError,
)
from messagehandler.events.event import Event

_UNSET: Any = object()


class PersonalDataError(MessageHandlerError):
    """Root of the errors about personal data: its marking, its keys and its encryption."""

    remedy = Remedy.INSPECT


class PersonalDataDefinitionError(PersonalDataError, EventDefinitionError):
    """An event class marks personal data in a way that cannot be encrypted or erased."""

    remedy = Remedy.FIX_CODE


class UnprotectedPersonalDataError(PersonalDataError, ConfigurationError):
    """Events with personal data were given to a serializer without keys: they would leave the process in plaintext."""

    remedy = Remedy.FIX_CONFIGURATION


class StoredEventKeyError(PersonalDataError, SerializationError):
    """A stored event's personal data cannot be read; `stream` and `version` name the event."""

    def __init__(self, message: str, *, stream: str | None = None, version: int | None = None) -> None:
        self.stream = stream
        self.version = version
        super().__init__(message)


class EncryptedEventError(StoredEventKeyError):
    """A stored event holds encrypted personal data and was read without keys, so it cannot be built as it was."""

    remedy = Remedy.FIX_CONFIGURATION


SEALED = "$personal"
"""The member naming a sealed value: `{"$personal": "<nonce + ciphertext>", "key": "<key id>", "erased": ...}`."""

SEALED_MARK = f'"{SEALED}":'
"""Present in every compact JSON text holding a sealed value: a member name followed by its colon, never a
string value (after which JSON has no colon) nor text inside a string (where the quotes are escaped)."""


@dataclass(frozen=True, slots=True)
class PersonalData:
    """Marks a field as personal data: `Annotated[str, PersonalData]` or `Annotated[str, PersonalData(erased="")]`.

    `erased` is what the field reads as once its subject's key is forgotten; it must validate as the
    field's type. Without it the field must accept `None`, which is then the erased value.
    """

    erased: Any = _UNSET


@dataclass(frozen=True, slots=True)
class DataSubject:
    """Marks the field whose value names the data subject of an event (by default, the stream id)."""


@dataclass(frozen=True, slots=True)
class Marked:
    """A marked field: its whole JSON value is personal data; `erased` is its erased value, as JSON data."""

    erased: Any


@dataclass(frozen=True, slots=True)
class Nested:
    """A field holding models with marked fields: one model, a list of them, or a dict of them (`values`)."""

    kind: str
    fields: Mapping[str, Marked | Nested]


Fields = Mapping[str, Marked | Nested]


@dataclass(frozen=True, slots=True)
class PersonalFields:
    """The marked fields of an event class (by JSON name) and the field naming its data subject, if any."""

    fields: Fields
    subject_field: str | None

    def subject(self, event: Event) -> Any:
        """The data subject of an event: its subject field's value, or the stream id."""
        if self.subject_field is None:
            return event.metadata.source_id
        return getattr(event, self.subject_field)

    def locate(self, document: dict[str, Any]) -> Iterator[tuple[Any, Any, str, Marked]]:
        """Every marked value of an event's JSON object: (container, key, JSON pointer, marker), present values only."""
        return _walk(document, self.fields, "")


_plans: dict[type[Event], PersonalFields | None] = {}
_sealing: ContextVar[bool] = ContextVar("messagehandler_sealing_personal_data", default=False)


def refuse_plaintext(event: Event) -> None:
    """Refuse to write an event's JSON in plaintext when it marks personal data.

    Every plain serializer calls this first; a serializer that seals the marked values asks for the
    plain JSON inside `sealing()`. So no path (an event source, the dispatcher, the cache replicator,
    an operator command) can write a marked value in plaintext by being given the wrong serializer.

    Raises:
        UnprotectedPersonalDataError: the event marks personal data and nothing will seal it.
        PersonalDataDefinitionError: the event's class marks personal data in a way that cannot work.
    """
    if personal_fields(type(event)) is not None and not _sealing.get():
        where = f" (stream {event.metadata.stream!r}, version {event.metadata.version})" if event.has_metadata else ""
        raise UnprotectedPersonalDataError(
            f"event {type(event).__event_type__!r}{where} holds personal data and would be written in plaintext: "
            "give the event source (and the dispatcher) a PersonalDataSerializer from messagehandler.personal; "
            "nothing was written"
        )


@contextmanager
def sealing() -> Iterator[None]:
    """Within this block `refuse_plaintext` lets marked events through: for serializers that seal what they get."""
    token = _sealing.set(True)
    try:
        yield
    finally:
        _sealing.reset(token)


def personal_fields(cls: type[Event]) -> PersonalFields | None:
    """The marked fields of an event class, or None when it marks none.

    Raises:
        PersonalDataDefinitionError: a marker is misplaced, an erased value does not fit its field,
            or the data subject is named in a way that cannot work.
    """
    try:
        return _plans[cls]
    except KeyError:
        pass
    fields = _model_fields(cls, cls.__qualname__)
    subject = _subject_field(cls)
    if subject is not None and subject in fields:
        raise PersonalDataDefinitionError(
            f"{cls.__qualname__}.{subject} is both the data subject and personal data: the subject must stay "
            "readable to find its key, so name the subject with an opaque id"
        )
    plan = PersonalFields(fields, subject) if fields else None
    _plans[cls] = plan
    return plan


def _walk(document: dict[str, Any], fields: Fields, pointer: str) -> Iterator[tuple[Any, Any, str, Marked]]:
    for name, spec in fields.items():
        if name not in document:
            continue
        value = document[name]
        path = f"{pointer}/{_escape(name)}"
        if isinstance(spec, Marked):
            yield document, name, path, spec
        elif spec.kind == "model":
            if isinstance(value, dict):
                yield from _walk(value, spec.fields, path)
        elif spec.kind == "items":
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, dict):
                        yield from _walk(item, spec.fields, f"{path}/{index}")
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, dict):
                    yield from _walk(item, spec.fields, f"{path}/{_escape(str(key))}")


def _escape(name: str) -> str:
    """A JSON Pointer reference token (RFC 6901)."""
    return name.replace("~", "~0").replace("/", "~1")


def _is_marker(item: object, marker: type) -> bool:
    return item is marker or isinstance(item, marker)


def _model_fields(model: type[BaseModel], where: str) -> dict[str, Marked | Nested]:
    fields: dict[str, Marked | Nested] = {}
    by_alias = bool(model.model_config.get("serialize_by_alias"))
    for name, info in model.model_fields.items():
        json_name = (info.serialization_alias or info.alias or name) if by_alias else name
        markers = [item for item in info.metadata if _is_marker(item, PersonalData)]
        annotation = info.annotation
        if markers:
            fields[json_name] = _marked(where, name, annotation, info.metadata, markers[0])
            continue
        nested = _nested(annotation, f"{where}.{name}")
        if nested is not None:
            fields[json_name] = nested
    return fields


def _marked(where: str, name: str, annotation: Any, metadata: list[Any], marker: Any) -> Marked:
    constraints = [item for item in metadata if not _is_marker(item, PersonalData)]
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[(annotation, *constraints)] if constraints else annotation)
    erased = marker.erased if isinstance(marker, PersonalData) else _UNSET
    if erased is _UNSET:
        if not _accepts_none(annotation):
            raise PersonalDataDefinitionError(
                f"{where}.{name} is personal data of a type that does not accept None: give the value it reads "
                f"as once erased, for example Annotated[{_type_name(annotation)}, PersonalData(erased=...)]"
            )
        erased = None
    try:
        text = adapter.dump_json(adapter.validate_python(erased)).decode()
        adapter.validate_json(text)
    except (ValidationError, ValueError, TypeError) as error:
        raise PersonalDataDefinitionError(
            f"{where}.{name}: the erased value {erased!r} is not a valid {_type_name(annotation)}, so an erased "
            f"event would not load: {error}"
        ) from None
    return Marked(json.loads(text))


def _nested(annotation: Any, where: str) -> Nested | None:
    """The nested marked fields reachable through a field's type, or None when there are none."""
    inner = _without_none(annotation)
    origin = get_origin(inner)
    if origin in (Union, types.UnionType):
        models = [arg for arg in get_args(inner) if _marked_model(arg, where) is not None]
        if models:
            raise PersonalDataDefinitionError(
                f"{where} is a union of several types, some with personal data fields: a reader could not "
                "tell which fields to decrypt; mark the whole field instead"
            )
        return None
    if origin is Annotated:
        return _nested(get_args(inner)[0], where)
    found = _marked_model(inner, where)
    if found is not None:
        return Nested("model", found)
    args = get_args(inner)
    if origin in (list, tuple, set, frozenset) or _is_sequence(origin):
        for arg in args:
            if arg is Ellipsis:
                continue
            element = _marked_model(_without_none(arg), where)
            if element is not None:
                return Nested("items", element)
            _refuse_hidden_marker(arg, where)
        return None
    if origin is dict or _is_mapping(origin):
        if args:
            element = _marked_model(_without_none(args[-1]), where)
            if element is not None:
                return Nested("values", element)
        for arg in args:
            _refuse_hidden_marker(arg, where)
        return None
    for arg in args:
        _refuse_hidden_marker(arg, where)
    _refuse_hidden_marker(inner, where)
    return None


def _marked_model(annotation: Any, where: str) -> dict[str, Marked | Nested] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if _subject_field(annotation) is not None and not issubclass(annotation, Event):
            raise PersonalDataDefinitionError(
                f"{where}: DataSubject marks a field of the nested model {annotation.__qualname__}; the data "
                "subject must be a field of the event itself"
            )
        found = _model_fields(annotation, f"{where}")
        return found or None
    return None


def _refuse_hidden_marker(annotation: Any, where: str) -> None:
    if _mentions_marker(annotation, set()):
        raise PersonalDataDefinitionError(
            f"{where} has a PersonalData marker inside a type argument or a non-pydantic class, where it cannot "
            "be found in the JSON: mark the whole field, Annotated[list[str], PersonalData(erased=[])], or use "
            "a pydantic model"
        )


def _mentions_marker(annotation: Any, seen: set[int]) -> bool:
    if id(annotation) in seen:
        return False
    seen.add(id(annotation))
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        return any(_is_marker(item, PersonalData) for item in extras) or _mentions_marker(base, seen)
    if any(_mentions_marker(arg, seen) for arg in get_args(annotation)):
        return True
    if isinstance(annotation, type) and (dataclasses.is_dataclass(annotation) or typing.is_typeddict(annotation)):
        try:
            hints = typing.get_type_hints(annotation, include_extras=True)
        except Exception:  # an unresolvable forward reference: nothing to find there
            return False
        return any(_mentions_marker(hint, seen) for hint in hints.values())
    return False


def _subject_field(model: type[BaseModel]) -> str | None:
    names = [
        name for name, info in model.model_fields.items() if any(_is_marker(i, DataSubject) for i in info.metadata)
    ]
    if len(names) > 1:
        raise PersonalDataDefinitionError(
            f"{model.__qualname__} marks {len(names)} fields as DataSubject ({', '.join(names)}); an event has one "
            "data subject"
        )
    if names and model.model_fields[names[0]].annotation is not str:
        raise PersonalDataDefinitionError(
            f"{model.__qualname__}.{names[0]} is the DataSubject and must be a str (the id of the subject)"
        )
    return names[0] if names else None


def _without_none(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _accepts_none(annotation: Any) -> bool:
    if annotation is None or annotation is type(None) or annotation is Any:
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        return _accepts_none(get_args(annotation)[0])
    return origin in (Union, types.UnionType) and any(_accepts_none(arg) for arg in get_args(annotation))


def _is_sequence(origin: Any) -> bool:
    return origin in (abc.Sequence, abc.MutableSequence, abc.Set, abc.MutableSet, abc.Iterable, abc.Collection)


def _is_mapping(origin: Any) -> bool:
    return origin in (abc.Mapping, abc.MutableMapping)


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")
