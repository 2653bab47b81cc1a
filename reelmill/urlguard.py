"""Outbound URLs may only reach public addresses (SSRF guard), unless configuration allows more.

Resolve the name, refuse if any address is not global (loopback, private, link-local — which holds
the cloud metadata service —, multicast, reserved, and the IPv6 forms that carry such an IPv4 address:
mapped, compatible, SIIT, NAT64, 6to4, Teredo), and connect to the address that was checked, so that a
second DNS answer cannot swap it.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddressError(Exception):
    retryable = False


def parse_networks(spec: str) -> tuple[Network, ...]:
    """'10.0.0.0/8,192.168.1.5' → networks that are allowed although not public."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


# IPv6 prefixes whose last 32 bits are an IPv4 address that a translator or tunnel will reach: such an
# address is judged by the IPv4 address inside (::127.0.0.1 is loopback, whatever ipaddress says).
_EMBEDDING_V4 = tuple(
    ipaddress.IPv6Network(n)
    for n in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96")  # compatible, mapped, SIIT, NAT64
)
# Local-use NAT64 (RFC 8215): translated inside someone's network, never public.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def is_allowed(address: str, allowed: Sequence[Network] = ()) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in net for net in allowed):
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        inner = _embedded_v4(ip)
        if inner is not None:
            return inner != ip and is_allowed(str(inner), allowed)
    return ip.is_global and not ip.is_multicast


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IPv4 address an IPv6 address carries to (6to4, Teredo, NAT64, SIIT, mapped, compatible)."""
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client the tunnel ends at
    if ip in (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")):
        return ip  # unspecified, loopback: themselves (not global)
    if any(ip in net for net in _EMBEDDING_V4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


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


@contextmanager
def deadline(conn: http.client.HTTPConnection, seconds: float, fired: threading.Event) -> Iterator[None]:
    """Ends the exchange on `conn` after `seconds`, whatever the peer does: a socket timeout applies
    to each read anew, so a server answering a byte at a time would otherwise last as long as it
    likes. Past the deadline the socket is shut down, the blocked read returns, and `fired` is set
    (before the shutdown: the reader can tell why its read failed). Connects first, so that the
    socket is held here: http.client lets go of it once a response that closes the connection began."""
    if conn.sock is None:
        conn.connect()
    sock = conn.sock

    def cut() -> None:
        fired.set()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def pinned_connection(url: str, timeout_s: float, allowed: Sequence[Network] = ()) -> tuple[
        http.client.HTTPConnection, str]:  # fmt: skip
    """A connection to the checked address of the URL's host (TLS still verifies the host name),
    and the path to request. BlockedAddressError when the host is not allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedAddressError(f"{url}: only http:// and https:// URLs with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve_public(parts.hostname, port, allowed)[0]
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = _PinnedHTTPS(parts.hostname, port, address, timeout_s)
    else:
        conn = _PinnedHTTP(parts.hostname, port, address, timeout_s)
    return conn, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        context = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=context)
        self.address = address
        self.ssl_context = context  # the base class's own copy, _context, is not in typeshed

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
