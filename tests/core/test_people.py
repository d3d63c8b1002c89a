"""Roles and names: who may manage whom, what may be granted, which addresses and names pass."""

from __future__ import annotations

import pytest

from frontdesk.core.people import Role, grantable, may_grant, may_manage, name_problem, normal_email

OWNER, ADMIN, AGENT = Role.OWNER, Role.ADMIN, Role.AGENT


@pytest.mark.parametrize(
    ("actor", "member", "allowed"),
    [
        (OWNER, OWNER, True),
        (OWNER, ADMIN, True),
        (OWNER, AGENT, True),
        (ADMIN, OWNER, False),
        (ADMIN, ADMIN, False),
        (ADMIN, AGENT, True),
        (AGENT, OWNER, False),
        (AGENT, ADMIN, False),
        (AGENT, AGENT, False),
    ],
)
def test_who_manages_whom(actor: Role, member: Role, allowed: bool) -> None:
    assert may_manage(actor, member) is allowed


def test_what_each_role_may_grant() -> None:
    assert grantable(OWNER) == (OWNER, ADMIN, AGENT)
    assert grantable(ADMIN) == (ADMIN, AGENT)
    assert grantable(AGENT) == ()
    assert not may_grant(ADMIN, OWNER)
    assert [r.manages_workspace for r in Role] == [True, True, False]


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("  Ana@Example.COM ", "ana@example.com"),
        ("joão@exemplo.pt", "joão@exemplo.pt"),
        ("zoe\u0308@exemplo.pt", "zo\u00eb@exemplo.pt"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
        ("no-at-sign", None),
        ("@example.com", None),
        ("ana@", None),
        ("ana@localhost", None),
        ("ana@.com", None),
        ("ana@example.", None),
        ("an a@example.com", None),
        ("ana@exa\x00mple.com", None),
        ("ana\u202e@example.com", None),
        ("a" * 250 + "@x.io", None),
    ],
)
def test_addresses(text: str, stored: str | None) -> None:
    assert normal_email(text) == stored


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Ana", True),
        ("Zoë 👩🏽‍💻", True),
        ("", False),
        ("x" * 101, False),
        ("bell\x07", False),
        ("<script>alert(1)</script>", True),  # stored as typed; escaped on output
    ],
)
def test_names(name: str, ok: bool) -> None:
    assert (name_problem(name) is None) is ok
