"""AES-256-GCM for personal data: data keys wrapped by the master key, texts sealed by a data key.

Pure functions, no database. The master key is derived from the `ACORDO_DATA_KEY` secret with
HKDF, so any long random string serves (like the other secrets of `backend.config`). A sealed
text names the key that sealed it, so reading needs nothing but the text and the key store:

    enc:1:<key id>:<base64url of a 12-byte nonce followed by the ciphertext and its tag>
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED_PREFIX = "enc:1:"
_NONCE_BYTES = 12
_WRAP_CONTEXT = b"acordo debtor key v1"


class CannotDecrypt(Exception):
    """A key or text was not made with this key (wrong ACORDO_DATA_KEY, or tampered data)."""


def master_key(secret: str) -> bytes:
    """The 256-bit key-encryption key derived from the `ACORDO_DATA_KEY` setting."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"acordo master key v1"
    ).derive(secret.encode())


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap(master: bytes, data_key: bytes) -> bytes:
    return _encrypt(master, data_key, _WRAP_CONTEXT)


def unwrap(master: bytes, wrapped: bytes) -> bytes:
    return _decrypt(master, wrapped, _WRAP_CONTEXT)


def seal(data_key: bytes, key_id: int, plaintext: str) -> str:
    """The text encrypted with the data key, in the self-describing `enc:1:` form."""
    sealed = _encrypt(data_key, plaintext.encode(), _text_context(key_id))
    return f"{SEALED_PREFIX}{key_id}:{base64.urlsafe_b64encode(sealed).decode()}"


def sealed_key_id(sealed: str) -> int | None:
    """The id of the key that sealed a text, or None when the text is not sealed."""
    if not sealed.startswith(SEALED_PREFIX):
        return None
    key_id, _, _ = sealed[len(SEALED_PREFIX) :].partition(":")
    return int(key_id) if key_id.isdigit() else None


def open_sealed(data_key: bytes, sealed: str) -> str:
    key_id = sealed_key_id(sealed)
    if key_id is None:
        raise CannotDecrypt("not a sealed text")
    payload = sealed[len(SEALED_PREFIX) :].partition(":")[2]
    return _decrypt(data_key, base64.urlsafe_b64decode(payload), _text_context(key_id)).decode()


def _text_context(key_id: int) -> bytes:
    # Binds the ciphertext to its key row: a text moved under another key id fails to open.
    return f"acordo text v1 key {key_id}".encode()


def _encrypt(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def _decrypt(key: bytes, sealed: bytes, context: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context)
    except (InvalidTag, ValueError) as exc:
        raise CannotDecrypt("the data was not encrypted with this key") from exc
