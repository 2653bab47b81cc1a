"""Outbound URLs may only reach public addresses (SSRF guard), unless configuration allows more.

Resolve the name, refuse if any address is not global (loopback, private, link-local — which holds
the cloud metadata service —, multicast, reserved, IPv4-mapped forms of those), and connect to the
address that was checked, so that a second DNS answer cannot swap it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddressError(Exception):
    retryable = False


def parse_networks(spec: str) -> tuple[Network, ...]:
    """'10.0.0.0/8,192.168.1.5' → networks that are allowed although not public."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def is_allowed(address: str, allowed: Sequence[Network] = ()) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in allowed):
        return True
    return ip.is_global and not ip.is_multicast


def literal_problem(host: str, allowed: Sequence[Network] = ()) -> str | None:
    """For submit-time checks without DNS: a literal address or a local name that is not allowed."""
    name = host.strip("[]").lower().rstrip(".")
    if name in ("localhost", "localhost.localdomain") or name.endswith((".localhost", ".local", ".internal")):
        return f"{host} is a local name"
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None
    return None if is_allowed(name, allowed) else f"{host} is not a public address"


def resolve_public(host: str, port: int, allowed: Sequence[Network] = ()) -> list[str]:
    """The addresses to connect to; BlockedAddressError when any of them is not allowed."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise BlockedAddressError(f"cannot resolve {host}: {e}") from e
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    blocked = [a for a in addresses if not is_allowed(a, allowed)]
    if blocked or not addresses:
        raise BlockedAddressError(f"{host} resolves to an address that is not public: {', '.join(blocked)}")
    return addresses
