"""The SSRF guard (issue 13): IPv6 forms that carry an IPv4 address are judged by that address."""

from __future__ import annotations

import pytest

from reelmill.urlguard import is_allowed, literal_problem, parse_networks


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::", "fe80::1", "fc00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::127.0.0.1", "::a9fe:a9fe",  # IPv4-compatible (deprecated, still routed by some stacks)
        "::ffff:0:7f00:1",  # SIIT
        "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",  # NAT64, well-known prefix
        "64:ff9b:1::808:808",  # NAT64, local-use prefix: never public
        "2002:7f00:1::", "2002:a9fe:a9fe::1",  # 6to4
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo to a documentation address
    ],
)  # fmt: skip
def test_addresses_that_reach_private_ipv4_are_refused(address: str) -> None:
    assert not is_allowed(address)
    assert literal_problem(f"[{address}]" if ":" in address else address) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_pass_in_any_form(address: str) -> None:
    assert is_allowed(address)


def test_configured_networks_are_allowed_in_any_form() -> None:
    allowed = parse_networks("10.0.0.0/8")
    assert is_allowed("10.1.2.3", allowed) and is_allowed("::ffff:10.1.2.3", allowed)
    assert is_allowed("64:ff9b::a01:203", allowed)  # NAT64 of 10.1.2.3
    assert not is_allowed("64:ff9b::7f00:1", allowed)
