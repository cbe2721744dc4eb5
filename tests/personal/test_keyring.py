"""The keyring's cache: bounded, aged, shared by concurrent readers, and emptied for a forgotten subject."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from messagehandler.errors import ConfigurationError
from messagehandler.personal import InMemoryKeyStore, Keyring, KeyState, LocalKeyEncryptionKey
from messagehandler.personal.keys import ErasureRecord, StoredKey


class CountingStore(InMemoryKeyStore):
    """An in-memory store that counts its reads and can be slowed down to let readers overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.delay = 0.0
        self.closed = False

    async def get(self, key_id: str) -> StoredKey | None:
        self.calls["get"] += 1
        await asyncio.sleep(self.delay)
        return await super().get(key_id)

    async def active(self, subject: str) -> StoredKey | None:
        self.calls["active"] += 1
        return await super().active(subject)

    async def destroy(self, subject: str, *, who: str | None = None, reason: str | None = None) -> ErasureRecord:
        self.calls["destroy"] += 1
        return await super().destroy(subject, who=who, reason=reason)

    async def close(self) -> None:
        self.closed = True


async def test_a_warm_cache_reads_nothing_more() -> None:
    store = CountingStore()
    ring = Keyring(store, LocalKeyEncryptionKey.generate())
    await ring.prepare(subjects=["a"])
    before = dict(store.calls)

    await ring.prepare(subjects=["a"], key_ids=["a#1"])

    assert dict(store.calls) == before
    entry = ring.entry("a#1")
    assert entry is not None
    assert entry.state is KeyState.ACTIVE
    assert ring.active_key_id("a") == "a#1"


async def test_the_cache_holds_at_most_cache_size_keys_and_keeps_the_latest_batch() -> None:
    store = CountingStore()
    kek = LocalKeyEncryptionKey.generate()
    await Keyring(store, kek).prepare(subjects=[f"s{n}" for n in range(5)])
    ring = Keyring(store, kek, cache_size=3)

    await ring.prepare(key_ids=["s0#1", "s1#1"])
    await ring.prepare(key_ids=["s2#1", "s3#1", "s4#1"])

    assert [ring.entry(f"s{n}#1") is not None for n in range(5)] == [False, False, True, True, True]
    await ring.prepare(key_ids=["s3#1", "s0#1"])  # s3 is touched again, s0 read again
    assert [ring.entry(f"s{n}#1") is not None for n in range(5)] == [True, False, False, True, True]


async def test_entries_older_than_max_age_are_read_again() -> None:
    store = CountingStore()
    now = [0.0]
    ring = Keyring(store, LocalKeyEncryptionKey.generate(), max_age=timedelta(seconds=10), clock=lambda: now[0])
    await ring.prepare(subjects=["a"])
    await ring.prepare(key_ids=["a#1"])
    assert store.calls["get"] == 0

    now[0] = 11
    await ring.prepare(key_ids=["a#1"])
    await ring.prepare(subjects=["a"])

    assert store.calls["get"] == 1
    assert store.calls["active"] == 2


async def test_concurrent_readers_of_one_key_share_one_lookup() -> None:
    store = CountingStore()
    kek = LocalKeyEncryptionKey.generate()
    await Keyring(store, kek).prepare(subjects=["a"])
    store.delay = 0.05
    ring = Keyring(store, kek)

    await asyncio.gather(*(ring.prepare(key_ids=["a#1"]) for _ in range(10)))

    assert store.calls["get"] == 1


async def test_two_processes_creating_a_subjects_first_key_use_the_same_key() -> None:
    store = InMemoryKeyStore()
    kek = LocalKeyEncryptionKey.generate()
    first, second = Keyring(store, kek), Keyring(store, kek)

    await asyncio.gather(first.prepare(subjects=["a"]), second.prepare(subjects=["a"]))

    assert first.active_key_id("a") == second.active_key_id("a") == "a#1"


async def test_forget_empties_the_cache_of_the_subject_and_marks_its_keys_destroyed() -> None:
    store = CountingStore()
    ring = Keyring(store, LocalKeyEncryptionKey.generate())
    await ring.prepare(subjects=["a", "ab"])

    await ring.forget("a", who="dpo")

    destroyed = ring.entry("a#1")
    assert destroyed is not None
    assert destroyed.state is KeyState.DESTROYED
    assert ring.active_key_id("a") is None
    kept = ring.entry("ab#1")
    assert kept is not None
    assert kept.state is KeyState.ACTIVE
    await ring.prepare(subjects=["a"])
    assert ring.active_key_id("a") == "a#2"


async def test_close_closes_the_store() -> None:
    store = CountingStore()
    async with Keyring(store, LocalKeyEncryptionKey.generate()):
        pass
    assert store.closed


def test_a_keyring_needs_a_key_encryption_key_and_a_sane_cache() -> None:
    with pytest.raises(ConfigurationError, match="not a KeyEncryptionKey"):
        Keyring(InMemoryKeyStore(), object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="cache_size"):
        Keyring(InMemoryKeyStore(), LocalKeyEncryptionKey.generate(), cache_size=0)


def test_a_local_key_encryption_key_never_shows_its_bytes() -> None:
    kek = LocalKeyEncryptionKey.generate(id="dev")
    text = kek.to_base64()

    assert text not in repr(kek)
    assert LocalKeyEncryptionKey.from_base64(text, id="dev").to_base64() == text
    with pytest.raises(ConfigurationError) as raised:
        LocalKeyEncryptionKey.from_base64("s3cr3t-but-not-base64!")
    assert "s3cr3t" not in str(raised.value)
    with pytest.raises(ConfigurationError, match="16, 24 or 32 bytes"):
        LocalKeyEncryptionKey(b"short")
