"""`InMemoryKeyStore`: data keys in a dict, for tests and embedded use beside `InMemoryEventSource`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from messagehandler.personal.keys import ErasureRecord, StoredKey, check_subject, parse_key_id


@dataclass
class _Subject:
    keys: list[StoredKey] = field(default_factory=list)
    active: int = 0
    erasures: list[ErasureRecord] = field(default_factory=list)


class InMemoryKeyStore:
    """Implements `DataKeyStore` in process memory, with the same rules as `TableKeyStore`."""

    def __init__(self) -> None:
        self._subjects: dict[str, _Subject] = {}

    async def get(self, key_id: str) -> StoredKey | None:
        parsed = parse_key_id(key_id)
        if parsed is None:
            return None
        subject, generation = parsed
        known = self._subjects.get(subject)
        if known is None or not 1 <= generation <= len(known.keys):
            return None
        return known.keys[generation - 1]

    async def active(self, subject: str) -> StoredKey | None:
        known = self._subjects.get(check_subject(subject))
        if known is None or not known.active:
            return None
        return known.keys[known.active - 1]

    async def create(self, subject: str, wrapped: bytes, kek_id: str) -> StoredKey:
        known = self._subjects.setdefault(check_subject(subject), _Subject())
        if known.active:
            return known.keys[known.active - 1]
        key = StoredKey(subject, len(known.keys) + 1, wrapped, kek_id, datetime.now(UTC))
        known.keys.append(key)
        known.active = key.generation
        return key

    async def destroy(self, subject: str, *, who: str | None = None, reason: str | None = None) -> ErasureRecord:
        known = self._subjects.setdefault(check_subject(subject), _Subject())
        now = datetime.now(UTC)
        destroyed = [key.key_id for key in known.keys if not key.destroyed]
        known.keys = [key if key.destroyed else replace(key, wrapped=None, destroyed_at=now) for key in known.keys]
        known.active = 0
        record = ErasureRecord(subject, tuple(destroyed), now, who, reason)
        known.erasures.append(record)
        return record

    async def erasures(self, subject: str | None = None) -> AsyncIterator[ErasureRecord]:
        subjects = [check_subject(subject)] if subject is not None else sorted(self._subjects)
        for name in subjects:
            for record in list(self._subjects.get(name, _Subject()).erasures):
                yield record

    async def close(self) -> None:
        """Nothing to release."""
