"""Secrets at rest: encrypted, and still readable after a key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from frontdesk.store.secrets import SecretError, Secrets


def test_encrypts_and_rotates_without_losing_anything() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = Secrets([old]).encrypt("EAAB-page-token")
    assert b"EAAB" not in token
    rotated = Secrets([new, old])
    assert rotated.decrypt(token) == "EAAB-page-token"
    fresh = rotated.rotate(token)
    assert Secrets([new]).decrypt(fresh) == "EAAB-page-token"
    with pytest.raises(SecretError):
        Secrets([new]).decrypt(token)


def test_needs_a_key() -> None:
    with pytest.raises(SecretError):
        Secrets([])
