"""A workspace's people: their roles, what each role may do to another, and their names."""

from __future__ import annotations

import unicodedata
from enum import StrEnum

EMAIL_LIMIT = 254  # RFC 5321's path limit, less the angle brackets
NAME_LIMIT = 100
WORKSPACE_NAME_LIMIT = 100


class Role(StrEnum):
    """Owner: everything, including other owners. Admin: channels, Meta app settings, and the
    agents. Agent: answers conversations."""

    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"

    @property
    def rank(self) -> int:
        return {Role.OWNER: 3, Role.ADMIN: 2, Role.AGENT: 1}[self]

    @property
    def manages_workspace(self) -> bool:
        """Channels, the Meta app, invitations: owners and admins."""
        return self.rank >= Role.ADMIN.rank


def may_manage(actor: Role, member: Role) -> bool:
    """Whether `actor` may change the role of, or remove, a member holding `member`.

    Owners manage everyone; admins manage agents only, so an admin cannot lock out an owner or
    another admin.
    """
    return actor is Role.OWNER or (actor.manages_workspace and member.rank < actor.rank)


def may_grant(actor: Role, role: Role) -> bool:
    """Whether `actor` may give `role` to someone (by invitation or by a change of role)."""
    return actor.manages_workspace and role.rank <= actor.rank


def grantable(actor: Role) -> tuple[Role, ...]:
    """The roles `actor` may give, highest first."""
    return tuple(role for role in Role if may_grant(actor, role))


def normal_email(text: str) -> str | None:
    """The address as stored (trimmed, lowercased), or None when it cannot be an address.

    Deliberately loose (one @, something either side, no spaces or control characters): the
    invitation link, not a regular expression, proves that an address works.
    """
    # NFC: "ë" typed as one character or as "e" and a combining mark is the same address.
    email = unicodedata.normalize("NFC", text.strip()).lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or len(email) > EMAIL_LIMIT:
        return None
    if "." not in domain.strip(".") or domain.startswith(".") or domain.endswith("."):
        return None
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in email):
        return None
    return email


def name_problem(name: str, limit: int = NAME_LIMIT) -> str | None:
    """Why `name` (already trimmed) cannot be a person's or a workspace's name, or None."""
    if not name:
        return "Enter a name."
    if len(name) > limit:
        return f"Use at most {limit} characters."
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in name):
        return "The name contains a character that cannot be shown."
    return None
