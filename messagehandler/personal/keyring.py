"""`Keyring`: the data keys a process uses, fetched and unwrapped ahead of the sync (de)serialisation.

Key lookups are I/O (a table read, a Key Vault call) while serialisation is sync, so readers and
writers first `prepare` the keys of a batch (the event sources and channels do this), then encrypt or
decrypt from the cache without waiting. The cache is an LRU bounded by `cache_size`; its entries live
at most `max_age`, which is also how long another process may keep using a key after this one
forgot it: `forget` takes effect here at once and everywhere within `max_age`. Whatever `prepare`
loads is touched last, so a batch no larger than `cache_size` is never evicted before it is used.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from messagehandler.errors import ConfigurationError
from messagehandler.personal.cipher import FieldCipher, new_data_key
from messagehandler.personal.errors import WrongKeyEncryptionKeyError
from messagehandler.personal.kek import KeyEncryptionKey
from messagehandler.personal.keys import DataKeyStore, ErasureRecord, StoredKey, check_subject, parse_key_id

_log = logging.getLogger("messagehandler.personal")

_CONCURRENT_FETCHES = 16


class KeyState(enum.Enum):
    ACTIVE = "active"
    DESTROYED = "destroyed"
    UNKNOWN = "unknown"
    UNUSABLE = "unusable"
    """The stored key cannot be unwrapped with this keyring's key-encryption key."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A data key as this process knows it: usable (`cipher`), destroyed, unknown, or not unwrappable (`problem`)."""

    key_id: str
    state: KeyState
    cipher: FieldCipher | None = None
    problem: str = ""


class Keyring:
    """Data keys per data subject, wrapped by one key-encryption key, cached with a bound.

    Args:
        store: where wrapped keys and erasure records live (`InMemoryKeyStore`, `TableKeyStore`).
        kek: the key-encryption key that wraps new data keys and unwraps stored ones.
        cache_size: unwrapped keys kept at most (a batch read at once must fit).
        max_age: how long a cached key (or a subject's active key id) is trusted before it is read again.
    """

    def __init__(
        self,
        store: DataKeyStore,
        kek: KeyEncryptionKey,
        *,
        cache_size: int = 10_000,
        max_age: timedelta = timedelta(minutes=5),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(kek, KeyEncryptionKey):
            raise ConfigurationError(f"{kek!r} is not a KeyEncryptionKey (it needs id, wrap and unwrap)")
        if cache_size < 1 or max_age <= timedelta(0):
            raise ConfigurationError("cache_size must be >= 1 and max_age positive")
        self.store = store
        self.kek = kek
        self.cache_size = cache_size
        self._max_age = max_age.total_seconds()
        self._clock = clock
        self._keys: OrderedDict[str, tuple[KeyEntry, float]] = OrderedDict()
        self._active: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._fetches: dict[str, asyncio.Task[KeyEntry]] = {}

    def __repr__(self) -> str:
        return f"Keyring(store={self.store!r}, kek={self.kek!r}, cached={len(self._keys)})"

    def entry(self, key_id: str) -> KeyEntry | None:
        """The cached state of a key; None when `prepare` did not load it."""
        cached = self._keys.get(key_id)
        return None if cached is None else cached[0]

    def active_key_id(self, subject: str) -> str | None:
        """The subject's key id for new data, when `prepare` loaded it."""
        cached = self._active.get(subject)
        return None if cached is None else cached[0]

    async def prepare(self, *, subjects: Iterable[str] = (), key_ids: Iterable[str] = ()) -> None:
        """Load (and create, for subjects without one) the keys a batch needs, then pin them in the cache.

        Raises:
            InvalidSubjectError: a subject cannot name a key.
            ServiceError: the key store or the key-encryption key's service failed (retry later, or
                fix the configuration when access was denied).
        """
        now = self._clock()
        wanted_subjects = [check_subject(s) for s in dict.fromkeys(subjects)]
        wanted_keys = list(dict.fromkeys(key_ids))
        missing_subjects = [s for s in wanted_subjects if not self._fresh(self._active.get(s), now)]
        for start in range(0, len(missing_subjects), _CONCURRENT_FETCHES):
            chunk = missing_subjects[start : start + _CONCURRENT_FETCHES]
            await asyncio.gather(*(self._load_subject(s) for s in chunk))
        missing_keys = [k for k in wanted_keys if not self._fresh(self._keys.get(k), now)]
        for start in range(0, len(missing_keys), _CONCURRENT_FETCHES):
            chunk = missing_keys[start : start + _CONCURRENT_FETCHES]
            for entry in await asyncio.gather(*(self._fetch(k) for k in chunk)):
                self._remember(entry)
        for subject in wanted_subjects:
            cached_id = self._active.get(subject)
            if cached_id is not None:
                self._active.move_to_end(subject)
                wanted_keys.append(cached_id[0])
        for key in wanted_keys:
            if key in self._keys:
                self._keys.move_to_end(key)

    async def forget(self, subject: str, *, who: str | None = None, reason: str | None = None) -> ErasureRecord:
        """Destroy the subject's data keys (crypto-shredding) and record who did it, when and why.

        Every marked value encrypted with them reads as its erased value from now on, in this process
        at once and in others once their cached copy is `max_age` old. Personal data the subject
        gives later is encrypted with a new key.

        Raises:
            InvalidSubjectError: the subject cannot name a key.
            ServiceError: the key store failed; nothing was destroyed unless it says otherwise.
        """
        subject = check_subject(subject)
        record = await self.store.destroy(subject, who=who, reason=reason)
        self._active.pop(subject, None)
        prefix = f"{subject}#"
        for key in [k for k in self._keys if k.startswith(prefix)]:
            del self._keys[key]
        for key in record.key_ids:
            self._remember(KeyEntry(key, KeyState.DESTROYED))
        _log.info("forgot data subject %r (keys %s) for %s", subject, ", ".join(record.key_ids) or "none", who)
        return record

    def erasures(self, subject: str | None = None) -> AsyncIterator[ErasureRecord]:
        """The erasure records of the key store, of one subject or all."""
        return self.store.erasures(subject)

    async def close(self) -> None:
        """Close the key store and the key-encryption key (when it holds a client)."""
        await self.store.close()
        closer = getattr(self.kek, "close", None)
        if closer is not None:
            await closer()

    async def __aenter__(self) -> Keyring:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _fresh(self, cached: tuple[object, float] | None, now: float) -> bool:
        return cached is not None and now - cached[1] < self._max_age

    def _remember(self, entry: KeyEntry) -> None:
        self._keys[entry.key_id] = (entry, self._clock())
        self._keys.move_to_end(entry.key_id)
        while len(self._keys) > self.cache_size:
            self._keys.popitem(last=False)

    async def _load_subject(self, subject: str) -> None:
        stored = await self.store.active(subject)
        if stored is None:
            raw = new_data_key()
            wrapped = await self.kek.wrap(raw)
            stored = await self.store.create(subject, wrapped, self.kek.id)
            entry = KeyEntry(stored.key_id, KeyState.ACTIVE, FieldCipher(raw))
            if stored.wrapped != wrapped:  # another writer created the subject's key first
                entry = await self._unwrap(stored)
        else:
            entry = await self._unwrap(stored)
        self._remember(entry)
        self._active[subject] = (entry.key_id, self._clock())
        self._active.move_to_end(subject)
        while len(self._active) > self.cache_size:
            self._active.popitem(last=False)

    async def _fetch(self, key_id: str) -> KeyEntry:
        """One lookup per key id at a time, however many readers want it."""
        task = self._fetches.get(key_id)
        if task is None:
            task = asyncio.ensure_future(self._read(key_id))
            self._fetches[key_id] = task
            task.add_done_callback(lambda _: self._fetches.pop(key_id, None))
        return await asyncio.shield(task)

    async def _read(self, key_id: str) -> KeyEntry:
        if parse_key_id(key_id) is None:
            return KeyEntry(key_id, KeyState.UNKNOWN, problem="it is not a key id")
        stored = await self.store.get(key_id)
        if stored is None:
            return KeyEntry(key_id, KeyState.UNKNOWN, problem="the key store has never held it")
        return await self._unwrap(stored)

    async def _unwrap(self, stored: StoredKey) -> KeyEntry:
        if stored.wrapped is None:
            return KeyEntry(stored.key_id, KeyState.DESTROYED)
        if stored.kek_id != self.kek.id:
            return KeyEntry(
                stored.key_id,
                KeyState.UNUSABLE,
                problem=f"it is wrapped by key-encryption key {stored.kek_id!r}, this keyring holds {self.kek.id!r}",
            )
        try:
            raw = await self.kek.unwrap(stored.wrapped)
            return KeyEntry(stored.key_id, KeyState.ACTIVE, FieldCipher(raw))
        except (WrongKeyEncryptionKeyError, ValueError) as error:
            return KeyEntry(stored.key_id, KeyState.UNUSABLE, problem=str(error))
