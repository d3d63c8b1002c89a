"""Password hashes at rest: argon2id, with the rule a new password must meet."""

from __future__ import annotations

import logging

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 1000
"""Long enough for any passphrase; the bound keeps one login from costing a megabyte of hashing."""
log = logging.getLogger("frontdesk.passwords")


class PasswordRefused(ValueError):  # noqa: N818 - reads as the condition it reports
    """A new password does not meet the rule; the message says why, for the person typing it."""


def problem(password: str) -> str | None:
    """Why `password` cannot be set, or None. Length only (NIST SP 800-63B): no composition
    rules, which push people to predictable patterns."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if "\x00" in password:
        return "The password contains a character that cannot be stored."
    return None


class Passwords:
    """Hash and check passwords. The defaults are argon2-cffi's (RFC 9106's second profile);
    tests may pass cheaper parameters, the algorithm stays the same."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._decoy: str | None = None

    def _decoy_hash(self) -> str:
        """Checked against when the account does not exist, so that a login for an unknown
        address takes as long as one for a known address with a wrong password."""
        if self._decoy is None:
            self._decoy = self._hasher.hash("not a password of anyone's")
        return self._decoy

    def hash(self, password: str) -> str:
        reason = problem(password)
        if reason is not None:
            raise PasswordRefused(reason)
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches `stored`; a missing or unreadable hash matches nothing
        (and costs the same time as a mismatch)."""
        if len(password) > MAX_LENGTH:
            return False
        try:
            self._hasher.verify(stored or self._decoy_hash(), password)
        except VerifyMismatchError:
            return False
        except (InvalidHashError, VerificationError) as err:
            # A hash we cannot read matches nothing; `frontdesk admin reset-password` mends it.
            log.error("a stored password hash cannot be read (%s): reset that password", err)
            return False
        return stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """True when `stored` was made with weaker parameters than today's: rehash at login."""
        return self._hasher.check_needs_rehash(stored)
