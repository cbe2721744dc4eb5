"""Data keys as stored, erasure records, and the `DataKeyStore` protocol every key store implements.

A data subject has at most one active data key at a time. Forgetting the subject destroys every key
it has had (the wrapped bytes are deleted; a record of the key stays, so an event naming it reads as
erased rather than as an unknown key) and writes an `ErasureRecord` in the same atomic step. New
personal data of a forgotten subject gets a new key, with the next generation number.

A key id is `{subject}#{generation}`: the subject is an id (use an opaque one such as the stream id,
never an e-mail address), and `#` can never occur in it because subjects follow Table Storage's key
rules, so the id always splits back into both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from messagehandler.eventsource.keys import InvalidKeyError, validate_stream
from messagehandler.personal.errors import InvalidSubjectError

KEY_ID_SEPARATOR = "#"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One data key as the store holds it: wrapped by the KEK named `kek_id`, or destroyed (`wrapped` is None)."""

    subject: str
    generation: int
    wrapped: bytes | None
    kek_id: str
    created_at: datetime
    destroyed_at: datetime | None = None

    @property
    def key_id(self) -> str:
        return key_id(self.subject, self.generation)

    @property
    def destroyed(self) -> bool:
        return self.wrapped is None

    def __repr__(self) -> str:
        state = "destroyed" if self.wrapped is None else "active"
        return f"StoredKey({self.key_id!r}, {state}, kek={self.kek_id!r})"


@dataclass(frozen=True, slots=True)
class ErasureRecord:
    """That a subject's keys were destroyed: when, by whom, why, which keys. Never the personal data itself."""

    subject: str
    key_ids: tuple[str, ...]
    when: datetime
    who: str | None = None
    reason: str | None = None


@runtime_checkable
class DataKeyStore(Protocol):
    """Where wrapped data keys and erasure records live; `InMemoryKeyStore` and `TableKeyStore` implement it."""

    async def get(self, key_id: str) -> StoredKey | None:
        """The key with this id, destroyed ones included; None when the store never held it."""
        ...

    async def active(self, subject: str) -> StoredKey | None:
        """The subject's active key, or None when it has none (never had one, or was forgotten)."""
        ...

    async def create(self, subject: str, wrapped: bytes, kek_id: str) -> StoredKey:
        """Store a new active key for the subject, unless another writer just did: then that key is returned."""
        ...

    async def destroy(self, subject: str, *, who: str | None = None, reason: str | None = None) -> ErasureRecord:
        """Destroy every key of the subject and record it, atomically; a subject without keys is recorded too."""
        ...

    def erasures(self, subject: str | None = None) -> AsyncIterator[ErasureRecord]:
        """Erasure records, of one subject or of all, oldest first per subject."""
        ...

    async def close(self) -> None: ...


def key_id(subject: str, generation: int) -> str:
    return f"{subject}{KEY_ID_SEPARATOR}{generation}"


def parse_key_id(text: str) -> tuple[str, int] | None:
    """(subject, generation) of a key id, or None when the text is not one."""
    subject, separator, generation = text.rpartition(KEY_ID_SEPARATOR)
    if not separator or not subject or not generation.isdigit() or not generation.isascii():
        return None
    return subject, int(generation)


def check_subject(subject: object, where: str = "") -> str:
    """The subject id, or `InvalidSubjectError` naming `where` (an event, a call) when it cannot name a key."""
    if not isinstance(subject, str) or not subject:
        raise InvalidSubjectError(f"data subject {subject!r}{where} must be a non-empty string")
    try:
        validate_stream("DataSubject", subject)
    except InvalidKeyError as error:
        raise InvalidSubjectError(f"data subject{where} cannot name a key: {error}") from None
    return subject
