"""AES-256-GCM for one marked value, bound to where it belongs.

Each value gets a fresh 96-bit nonce. The associated data names the stream type, stream id,
version, the field's JSON Pointer and the key id, so a ciphertext copied into another event, another
field or under another key fails authentication instead of decrypting into the wrong place.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

DATA_KEY_BYTES = 32
NONCE_BYTES = 12


def new_data_key() -> bytes:
    """A fresh 256-bit data key from the operating system's CSPRNG."""
    return AESGCM.generate_key(bit_length=DATA_KEY_BYTES * 8)


def associated_data(stream_type: str, stream_id: str, version: int, pointer: str, key_id: str) -> bytes:
    """What a ciphertext is bound to, one part per line.

    No two places encode alike: stream types, stream ids and key ids hold no control characters (they
    follow Table Storage's key rules), and the pointer, which may, comes last.
    """
    return f"{stream_type}\n{stream_id}\n{version}\n{key_id}\n{pointer}".encode()


class InvalidCiphertextError(ValueError):
    """A sealed value that does not decrypt: changed, truncated, moved, or not base64."""


class FieldCipher:
    """Seals and opens values with one data key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != DATA_KEY_BYTES:
            raise ValueError(f"a data key has {DATA_KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plaintext, aad)).decode("ascii")

    def open(self, sealed: str, aad: bytes) -> bytes:
        """The plaintext; `InvalidCiphertextError` for anything that does not authenticate."""
        try:
            data = base64.b64decode(sealed, validate=True)
        except (binascii.Error, ValueError) as error:
            raise InvalidCiphertextError(f"not base64: {error}") from None
        if len(data) < NONCE_BYTES + 16:
            raise InvalidCiphertextError(f"{len(data)} bytes is too short for a nonce and a tag")
        try:
            return self._aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], aad)
        except InvalidTag:
            raise InvalidCiphertextError("authentication failed") from None

    def __repr__(self) -> str:
        return "FieldCipher(<data key>)"
