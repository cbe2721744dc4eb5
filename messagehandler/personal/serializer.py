"""`PersonalDataSerializer`: events with their marked fields sealed, so personal data never leaves in plaintext.

Each marked value is replaced in the stored JSON by a sealed value:

    {"$personal": "<base64 of nonce, ciphertext and tag>", "key": "<key id>", "erased": <erased value>}

encrypted (AES-256-GCM) with the data key of the event's subject and bound to the stream, version,
field and key. The row's `EncryptionKeyId` (and a channel envelope's `encryptionkeyid`) names the key
too. The same text goes to the table, the outbox's publications, the cache and every channel, so
a subscriber holding the key store reads the values with a serializer like this one, and one without
sees only ciphertext. Once the subject is forgotten, each sealed value reads as its `erased` value,
which fits the field's type, so aggregates still load and replay and projections rebuilt hold no
trace.

Serialisation is sync and keys are I/O: call `prepare_to_write(events)` before `serialize` and
`prepare_to_read(stored)` before `deserialize`. The event sources, the dispatcher and the channel
readers do; a caller that forgets gets `KeysNotPreparedError`, never plaintext.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from messagehandler.errors import SerializationError
from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata
from messagehandler.events.personal import SEALED, PersonalFields, personal_fields, sealing
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.events.serialization import EventSerializer, JsonEventSerializer
from messagehandler.personal.cipher import InvalidCiphertextError, associated_data
from messagehandler.personal.errors import (
    KeysNotPreparedError,
    KeyUnwrapError,
    StoredEventKeyError,
    TamperedDataError,
    UnknownKeyError,
)
from messagehandler.personal.keyring import KeyEntry, Keyring, KeyState
from messagehandler.personal.keys import check_subject

KEY = "key"
ERASED = "erased"
_LOOSE_MARK = f'"{SEALED}"'
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_decode = json.JSONDecoder().decode


class PersonalDataSerializer:
    """An `EventSerializer` that encrypts marked fields with the data subject's key and decrypts them on read.

    Args:
        keyring: the data keys (their store and key-encryption key) to encrypt and decrypt with.
        inner: the serializer of everything else (default `JsonEventSerializer(registry)`); a
            `PassThroughSerializer` makes it read any event type, as the operator tools do.
        registry: the registry of the default inner serializer.
    """

    def __init__(
        self, keyring: Keyring, inner: EventSerializer | None = None, *, registry: EventTypeRegistry | None = None
    ) -> None:
        self.keyring = keyring
        self._inner: EventSerializer = inner if inner is not None else JsonEventSerializer(registry)
        self.registry = self._inner.registry

    def __repr__(self) -> str:
        return f"PersonalDataSerializer({self.keyring!r})"

    async def prepare_to_write(self, events: Sequence[Event]) -> None:
        """Fetch, or create, the data keys that `serialize` will need for these events.

        Raises:
            InvalidSubjectError: an event's data subject cannot name a key.
            ServiceError: the key store or the key-encryption key failed.
        """
        subjects: list[str] = []
        key_ids: list[str] = []
        for event in events:
            plan = personal_fields(type(event))
            if plan is None:
                continue
            meta = event.metadata
            if meta.encryption_key_id is not None:
                key_ids.append(meta.encryption_key_id)
            else:
                subjects.append(check_subject(plan.subject(event), f" of {_where(meta)}"))
        if subjects or key_ids:
            await self.keyring.prepare(subjects=subjects, key_ids=key_ids)

    async def prepare_to_read(self, stored: Iterable[tuple[EventMetadata, str]]) -> None:
        """Fetch the data keys that `deserialize` will need for these stored events.

        Raises:
            ServiceError: the key store or the key-encryption key failed.
        """
        key_ids: list[str] = []
        for meta, body in stored:
            if meta.encryption_key_id is not None:
                key_ids.append(meta.encryption_key_id)
            elif _LOOSE_MARK in body:
                key_ids.extend(token[KEY] for _, _, _, token in _tokens(_parse(body, meta), "") if _is_token(token))
        if key_ids:
            await self.keyring.prepare(key_ids=key_ids)

    def serialize(self, event: Event) -> str:
        """The event's JSON with every marked value sealed; stamps the key id on the event's metadata.

        Raises:
            KeysNotPreparedError: `prepare_to_write` was not awaited for this event.
            UnknownKeyError, KeyUnwrapError: a loaded event is written again under a key that cannot be used.
            UnstorableEventError, SerializationError: as the inner serializer raises them.
        """
        plan = personal_fields(type(event))
        if plan is None:
            return self._inner.serialize(event)
        with sealing():
            body = self._inner.serialize(event)
        if not event.has_metadata:
            raise SerializationError(
                f"{type(event).__qualname__} holds personal data and has no metadata: sealed values are bound to "
                "their stream and version, so emit it from an aggregate first"
            )
        meta = event.metadata
        key_id = meta.encryption_key_id or self.keyring.active_key_id(plan.subject(event))
        entry = self.keyring.entry(key_id) if key_id is not None else None
        if key_id is None or entry is None:
            raise KeysNotPreparedError(
                f"no data key was prepared for {_where(meta)}: await serializer.prepare_to_write(events) first"
            )
        document = self._sealed(_decode(body), plan, meta, entry)
        if meta.encryption_key_id != key_id:
            event._stamp(replace(meta, encryption_key_id=key_id))
        return _encode(document)

    def deserialize(self, body: str, metadata: EventMetadata) -> Event:
        """The event with every sealed value decrypted, or replaced by its erased value when its key is destroyed.

        Raises:
            KeysNotPreparedError: `prepare_to_read` was not awaited for this event.
            UnknownKeyError: the event names a key the key store never held.
            KeyUnwrapError: the event's key is wrapped by another key-encryption key.
            TamperedDataError: a sealed value does not authenticate (changed or moved).
            SerializationError, UnknownEventTypeError, UpcastError: as the inner serializer raises them.
        """
        if _LOOSE_MARK not in body:
            return self._inner.deserialize(body, metadata)
        document = _parse(body, metadata)
        for container, slot, pointer, token in list(_tokens(document, "")):
            container[slot] = self._opened(token, pointer, metadata)
        return self._inner.deserialize(_encode(document), metadata)

    def _sealed(self, document: dict[str, Any], plan: PersonalFields, meta: EventMetadata, entry: KeyEntry) -> Any:
        key_id = entry.key_id
        cipher = entry.cipher
        if entry.state is not KeyState.DESTROYED and cipher is None:
            raise _unusable(entry, meta, "")
        for container, slot, pointer, marked in list(plan.locate(document)):
            if cipher is None:
                sealed = ""
            else:
                plaintext = _encode(container[slot]).encode()
                aad = associated_data(meta.source_type, meta.source_id, meta.version, pointer, key_id)
                sealed = cipher.seal(plaintext, aad)
            container[slot] = {SEALED: sealed, KEY: key_id, ERASED: marked.erased}
        return document

    def _opened(self, token: Any, pointer: str, meta: EventMetadata) -> Any:
        if not _is_token(token):
            raise TamperedDataError(
                f"the sealed value at {pointer!r} of {_where(meta)} is malformed (it needs a string "
                f"{SEALED!r}, a string {KEY!r} and an {ERASED!r} value)",
                stream=meta.stream,
                version=meta.version,
            )
        key_id = token[KEY]
        if meta.encryption_key_id is not None and key_id != meta.encryption_key_id:
            raise TamperedDataError(
                f"the sealed value at {pointer!r} of {_where(meta)} names key {key_id!r}, but the event is "
                f"encrypted with {meta.encryption_key_id!r}: it was moved from another event",
                stream=meta.stream,
                version=meta.version,
            )
        entry = self.keyring.entry(key_id)
        if entry is None:
            raise KeysNotPreparedError(
                f"data key {key_id!r} of {_where(meta)} was not prepared: await serializer.prepare_to_read(...) first"
            )
        if entry.state is KeyState.DESTROYED:
            return token[ERASED]
        if entry.cipher is None:
            raise _unusable(entry, meta, pointer)
        if token[SEALED] == "":
            raise TamperedDataError(
                f"the value at {pointer!r} of {_where(meta)} is marked erased, but its key {key_id!r} is not destroyed",
                stream=meta.stream,
                version=meta.version,
            )
        aad = associated_data(meta.source_type, meta.source_id, meta.version, pointer, key_id)
        try:
            return _decode(entry.cipher.open(token[SEALED], aad).decode())
        except (InvalidCiphertextError, ValueError) as error:
            raise TamperedDataError(
                f"the sealed value at {pointer!r} of {_where(meta)} does not decrypt with key {key_id!r} ({error}): "
                "it was changed, or copied from another event or field",
                stream=meta.stream,
                version=meta.version,
            ) from None


def _unusable(entry: KeyEntry, meta: EventMetadata, pointer: str) -> StoredEventKeyError:
    at = f" (field {pointer!r})" if pointer else ""
    kind: type[StoredEventKeyError] = UnknownKeyError if entry.state is KeyState.UNKNOWN else KeyUnwrapError
    what = "unknown data key" if entry.state is KeyState.UNKNOWN else "data key"
    return kind(
        f"{_where(meta)}{at} is encrypted with {what} {entry.key_id!r}, which cannot be used: {entry.problem}",
        stream=meta.stream,
        version=meta.version,
    )


def _where(meta: EventMetadata) -> str:
    return f"event {meta.event_type!r} (stream {meta.stream!r}, version {meta.version})"


def _parse(body: str, meta: EventMetadata) -> Any:
    try:
        return _decode(body)
    except ValueError as error:
        raise SerializationError(f"stored {_where(meta)} is not valid JSON: {error}") from None


def _is_token(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get(SEALED), str)
        and isinstance(value.get(KEY), str)
        and ERASED in value
    )


def _tokens(value: Any, pointer: str) -> Iterator[tuple[Any, Any, str, Any]]:
    """Every sealed value under `value`: (container, key or index, JSON Pointer, the sealed object)."""
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for slot, item in items:
        path = f"{pointer}/{str(slot).replace('~', '~0').replace('/', '~1')}"
        if isinstance(item, dict) and SEALED in item:
            yield value, slot, path, item
        elif isinstance(item, dict | list):
            yield from _tokens(item, path)
