"""Which network addresses Frontdesk may fetch from on outside input's behalf (SSRF guard).

One rule for every outgoing fetch whose URL came from outside (a Messenger attachment, a rule
bot's HTTP call): only public unicast addresses, with IPv4-mapped IPv6 judged as the IPv4 it
carries, unless the deployment itself talks to Meta on a local address (`frontdesk dev`).
"""

from __future__ import annotations

import ipaddress

import httpx


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def literal(host: str) -> str | None:
    """The host as an IP address, when it is written as one (no lookup needed); else None."""
    try:
        return str(_address(host))
    except ValueError:
        return None


def is_public(text: str) -> bool:
    """Whether `text` is a public unicast IP address; anything unreadable is not."""
    try:
        address = _address(text)
    except ValueError:
        return False
    return address.is_global and not address.is_multicast


def is_local_host(host: str) -> bool:
    """A loopback or private host (literal address, or `localhost`): a development setup."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not _address(host).is_global
    except ValueError:
        return False


def is_local(url: str) -> bool:
    """Whether `url`'s host is this machine or a private network (the Graph URL in dev)."""
    return is_local_host(httpx.URL(url).host)
