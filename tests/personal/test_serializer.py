"""PersonalDataSerializer: sealed on the way out, opened on the way in, erased once the key is forgotten.

Bad input (an unknown key, a changed or moved ciphertext, another key-encryption key) gives a typed
error naming the stream and version, never garbage.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest

from messagehandler import Event, SerializationError
from messagehandler.events.serialization import JsonEventSerializer
from messagehandler.personal import (
    InMemoryKeyStore,
    InvalidSubjectError,
    Keyring,
    KeysNotPreparedError,
    KeyUnwrapError,
    LocalKeyEncryptionKey,
    PersonalDataSerializer,
    TamperedDataError,
    UnknownKeyError,
)
from messagehandler.testing import recorded
from tests.personal.events import Address, CustomerMoved, CustomerRegistered, OrderPlaced, PlanChanged


def keyring(store: InMemoryKeyStore | None = None, kek: LocalKeyEncryptionKey | None = None) -> Keyring:
    return Keyring(store or InMemoryKeyStore(), kek or LocalKeyEncryptionKey.generate())


async def sealed(serializer: PersonalDataSerializer, events: list[Event]) -> list[str]:
    await serializer.prepare_to_write(events)
    return [serializer.serialize(event) for event in events]


async def opened(serializer: PersonalDataSerializer, events: list[Event], bodies: list[str]) -> list[Event]:
    stored = [(event.metadata, body) for event, body in zip(events, bodies, strict=True)]
    await serializer.prepare_to_read(stored)
    return [serializer.deserialize(body, meta) for meta, body in stored]


def registered(stream_id: str = "c-1", version: int = 1) -> Event:
    [event] = recorded(
        "Customer",
        stream_id,
        [CustomerRegistered(name="Ann Smith", email="ann@example.com", address=Address(street="Main 1", city="Gent"))],
        start_version=version,
    )
    return event


async def test_marked_values_leave_only_sealed_and_read_back_exactly() -> None:
    serializer = PersonalDataSerializer(keyring())
    events = [registered()]

    bodies = await sealed(serializer, events)

    for secret in ("Ann Smith", "ann@example.com", "Main 1"):
        assert secret not in bodies[0]
    document = json.loads(bodies[0])
    assert document["plan"] == "basic"
    assert document["address"]["city"] == "Gent"
    assert set(document["name"]) == {"$personal", "key", "erased"}
    assert document["name"]["erased"] == "(erased)"
    assert events[0].metadata.encryption_key_id == "c-1#1" == document["name"]["key"]
    assert await opened(serializer, events, bodies) == events


async def test_each_value_gets_a_fresh_nonce() -> None:
    serializer = PersonalDataSerializer(keyring())
    event = registered()

    first, second = await sealed(serializer, [event, event])

    assert json.loads(first)["name"]["$personal"] != json.loads(second)["name"]["$personal"]


async def test_forgetting_the_subject_erases_its_values_and_only_its_own() -> None:
    ring = keyring()
    serializer = PersonalDataSerializer(ring)
    ann, bob = registered("ann"), registered("bob")
    bodies = await sealed(serializer, [ann, bob])

    record = await ring.forget("ann", who="dpo@example.com", reason="request 42")
    erased, kept = await opened(serializer, [ann, bob], bodies)

    assert isinstance(erased, CustomerRegistered)
    assert (erased.name, erased.email, erased.address) == ("(erased)", None, Address(street="", city="Gent"))
    assert kept == bob
    assert (record.subject, record.key_ids, record.who, record.reason) == (
        "ann",
        ("ann#1",),
        "dpo@example.com",
        "request 42",
    )
    assert [r.subject async for r in ring.erasures()] == ["ann"]


async def test_erasure_reaches_a_keyring_of_another_process_once_its_cache_expires() -> None:
    store, kek = InMemoryKeyStore(), LocalKeyEncryptionKey.generate()
    now = [0.0]
    writer = PersonalDataSerializer(Keyring(store, kek))
    other = PersonalDataSerializer(Keyring(store, kek, clock=lambda: now[0]))
    events = [registered()]
    bodies = await sealed(writer, events)
    assert await opened(other, events, bodies) == events

    await writer.keyring.forget("c-1")
    assert await opened(other, events, bodies) == events  # still cached there
    now[0] += 301
    [event] = await opened(other, events, bodies)

    assert isinstance(event, CustomerRegistered)
    assert event.name == "(erased)"


async def test_new_data_after_erasure_gets_a_new_key() -> None:
    ring = keyring()
    serializer = PersonalDataSerializer(ring)
    before = [registered()]
    old = await sealed(serializer, before)
    await ring.forget("c-1")

    after = [registered(version=2)]
    new = await sealed(serializer, after)

    assert after[0].metadata.encryption_key_id == "c-1#2"
    assert await opened(serializer, after, new) == after
    [erased] = await opened(serializer, before, old)
    assert isinstance(erased, CustomerRegistered)
    assert erased.name == "(erased)"


async def test_a_loaded_event_written_again_keeps_its_key_and_its_erasure() -> None:
    ring = keyring()
    serializer = PersonalDataSerializer(ring)
    events = [registered()]
    [body] = await sealed(serializer, events)
    [loaded] = await opened(serializer, events, [body])

    [again] = await sealed(serializer, [loaded])
    assert loaded.metadata.encryption_key_id == "c-1#1"
    assert await opened(serializer, [loaded], [again]) == events

    await ring.forget("c-1")
    [after] = await sealed(serializer, [loaded])  # an event loaded before the erasure, published after it
    assert "Ann Smith" not in after
    assert json.loads(after)["name"]["$personal"] == ""
    [read] = await opened(serializer, [loaded], [after])
    assert isinstance(read, CustomerRegistered)
    assert read.name == "(erased)"


async def test_the_subject_can_be_a_field_of_the_event() -> None:
    ring = keyring()
    serializer = PersonalDataSerializer(ring)
    [order] = recorded("Order", "o-9", [OrderPlaced(customer_id="c-1", delivery_note="back door", amount=5)])

    [body] = await sealed(serializer, [order])
    await ring.forget("c-1")
    [read] = await opened(serializer, [order], [body])

    assert order.metadata.encryption_key_id == "c-1#1"
    assert isinstance(read, OrderPlaced)
    assert (read.delivery_note, read.amount) == ("", 5)


async def test_values_in_lists_of_models_are_sealed_one_by_one() -> None:
    serializer = PersonalDataSerializer(keyring())
    [moved] = recorded(
        "Customer", "c-1", [CustomerMoved(addresses=[Address(street="a 1", city="x"), Address(street="b 2", city="y")])]
    )

    [body] = await sealed(serializer, [moved])

    assert "a 1" not in body
    assert "b 2" not in body
    assert await opened(serializer, [moved], [body]) == [moved]


async def test_events_without_marks_pass_through_untouched() -> None:
    serializer = PersonalDataSerializer(keyring())
    [event] = recorded("Customer", "c-1", [PlanChanged(plan="gold")])

    [body] = await sealed(serializer, [event])

    assert body == JsonEventSerializer().serialize(event)
    assert event.metadata.encryption_key_id is None
    assert await opened(serializer, [event], [body]) == [event]


def tampered(body: str, change: Any) -> str:
    document = json.loads(body)
    change(document)
    return json.dumps(document, separators=(",", ":"))


def flip_a_bit(document: dict[str, Any]) -> None:
    data = bytearray(base64.b64decode(document["name"]["$personal"]))
    data[-1] ^= 1
    document["name"]["$personal"] = base64.b64encode(bytes(data)).decode()


def swap_fields(document: dict[str, Any]) -> None:
    document["name"]["$personal"], document["email"]["$personal"] = (
        document["email"]["$personal"],
        document["name"]["$personal"],
    )


def truncate(document: dict[str, Any]) -> None:
    document["name"]["$personal"] = document["name"]["$personal"][:8]


def not_base64(document: dict[str, Any]) -> None:
    document["name"]["$personal"] = "not base64 !"


def pretend_erased(document: dict[str, Any]) -> None:
    document["name"]["$personal"] = ""


def malformed(document: dict[str, Any]) -> None:
    del document["name"]["key"]


@pytest.mark.parametrize("change", [flip_a_bit, swap_fields, truncate, not_base64, pretend_erased, malformed])
async def test_a_tampered_value_is_a_typed_error_naming_stream_version_and_field(change: Any) -> None:
    serializer = PersonalDataSerializer(keyring())
    events = [registered(version=1)]
    [body] = await sealed(serializer, events)

    with pytest.raises(TamperedDataError) as raised:
        await opened(serializer, events, [tampered(body, change)])

    assert (raised.value.stream, raised.value.version) == ("Customer/c-1", 1)
    assert "/name" in str(raised.value) or "/email" in str(raised.value)
    assert isinstance(raised.value, SerializationError)


async def test_a_value_moved_to_another_version_or_stream_does_not_decrypt() -> None:
    serializer = PersonalDataSerializer(keyring())
    first, second = registered(version=1), registered(version=2)
    body_one, body_two = await sealed(serializer, [first, second])
    moved = tampered(body_two, lambda d: d.update(name=json.loads(body_one)["name"]))

    with pytest.raises(TamperedDataError, match="version 2"):
        await opened(serializer, [second], [moved])


async def test_a_value_under_another_subjects_key_is_refused() -> None:
    serializer = PersonalDataSerializer(keyring())
    ann, bob = registered("ann"), registered("bob")
    body_ann, body_bob = await sealed(serializer, [ann, bob])
    foreign = tampered(body_ann, lambda d: d.update(name=json.loads(body_bob)["name"]))

    with pytest.raises(TamperedDataError, match=r"names key 'bob#1'.*moved"):
        await opened(serializer, [ann], [foreign])


async def test_an_unknown_key_id_is_a_typed_error_naming_stream_and_version() -> None:
    writer = PersonalDataSerializer(keyring())
    reader = PersonalDataSerializer(keyring())  # another key store: it never held the key
    events = [registered(version=3)]
    bodies = await sealed(writer, events)

    with pytest.raises(UnknownKeyError) as raised:
        await opened(reader, events, bodies)

    assert (raised.value.stream, raised.value.version) == ("Customer/c-1", 3)
    assert "c-1#1" in str(raised.value)


async def test_another_key_encryption_key_is_a_typed_error_naming_stream_and_version() -> None:
    store = InMemoryKeyStore()
    writer = PersonalDataSerializer(keyring(store, LocalKeyEncryptionKey.generate()))
    same_id = PersonalDataSerializer(keyring(store, LocalKeyEncryptionKey.generate()))
    other_id = PersonalDataSerializer(keyring(store, LocalKeyEncryptionKey.generate(id="kek-2")))
    events = [registered()]
    bodies = await sealed(writer, events)

    with pytest.raises(KeyUnwrapError, match=r"Customer/c-1.*version 1.*wrapped by another key") as raised:
        await opened(same_id, events, bodies)
    assert raised.value.stream == "Customer/c-1"
    with pytest.raises(KeyUnwrapError, match=r"wrapped by key-encryption key 'local', this keyring holds 'kek-2'"):
        await opened(other_id, events, bodies)


async def test_skipping_the_preparation_is_an_error_never_plaintext() -> None:
    serializer = PersonalDataSerializer(keyring())
    event = registered()

    with pytest.raises(KeysNotPreparedError, match="prepare_to_write"):
        serializer.serialize(event)
    [body] = await sealed(PersonalDataSerializer(keyring()), [event])
    with pytest.raises(KeysNotPreparedError, match="prepare_to_read"):
        serializer.deserialize(body, event.metadata)


async def test_a_subject_that_cannot_name_a_key_is_refused_before_anything_is_written() -> None:
    serializer = PersonalDataSerializer(keyring())
    [order] = recorded("Order", "o-1", [OrderPlaced(customer_id="a/b", delivery_note="x", amount=1)])

    with pytest.raises(InvalidSubjectError, match=r"Order/o-1.*version 1"):
        await serializer.prepare_to_write([order])


async def test_an_event_without_metadata_cannot_be_sealed() -> None:
    serializer = PersonalDataSerializer(keyring())

    with pytest.raises(SerializationError, match="emit it from an aggregate"):
        serializer.serialize(CustomerRegistered(name="Ann"))


async def test_a_sealed_body_found_without_the_key_id_in_the_metadata_still_opens() -> None:
    store, kek = InMemoryKeyStore(), LocalKeyEncryptionKey.generate()
    events = [registered()]
    [body] = await sealed(PersonalDataSerializer(keyring(store, kek)), events)
    reader = PersonalDataSerializer(keyring(store, kek))  # nothing cached: the key ids must come from the body

    bare = replace(events[0].metadata, encryption_key_id=None)
    await reader.prepare_to_read([(bare, body)])

    assert reader.deserialize(body, bare) == events[0]
