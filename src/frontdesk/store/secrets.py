"""Secrets at rest: Fernet encryption with key rotation (the first key encrypts, all decrypt)."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretError(ValueError):
    """A stored secret cannot be decrypted with any configured key."""


OPENED_KEPT = 256
"""Decrypted secrets kept in memory, by their ciphertext: a send decrypts its Page token, and
Fernet's check and decryption cost more than the rest of preparing the send."""


class Secrets:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretError("at least one secret key is needed")
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self._opened: dict[bytes, str] = {}

    def encrypt(self, plain: str) -> bytes:
        return self._fernet.encrypt(plain.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        """The plain secret. Kept for the next call with the same ciphertext (a replaced
        secret has a new one, so nothing stale is ever returned)."""
        token = bytes(token)
        plain = self._opened.get(token)
        if plain is not None:
            return plain
        try:
            plain = self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise SecretError(
                "the secret was encrypted with a key that is not configured"
            ) from None
        if len(self._opened) >= OPENED_KEPT:
            self._opened.clear()
        self._opened[token] = plain
        return plain

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the newest key (run after adding a key in front)."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise SecretError(
                "the secret was encrypted with a key that is not configured"
            ) from None
