"""The one SSRF rule every fetch on outside input's behalf follows (downloads, bot calls)."""

from __future__ import annotations

import pytest

from frontdesk.workers.addresses import is_local, is_local_host, is_public, literal


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.7", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:10.0.0.1", False),  # IPv4-mapped: judged as the IPv4 it carries
        ("::ffff:93.184.216.34", True),
        ("224.0.0.1", False),  # multicast
        ("not-an-address", False),
        ("", False),
    ],
)
def test_only_public_unicast_addresses_pass(text: str, public: bool) -> None:
    assert is_public(text) is public


def test_a_literal_host_needs_no_lookup() -> None:
    assert literal("93.184.216.34") == "93.184.216.34"
    assert literal("::ffff:10.0.0.1") == "10.0.0.1"
    assert literal("shop.example") is None


def test_local_hosts_mean_a_development_setup() -> None:
    assert is_local_host("localhost")
    assert is_local_host("emulator.localhost")
    assert is_local_host("127.0.0.1")
    assert not is_local_host("graph.facebook.com")
    assert is_local("http://127.0.0.1:8081")
    assert not is_local("https://graph.facebook.com")
