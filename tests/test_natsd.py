"""The test and dev nats-server: ports out of the ephemeral range, and a start that survives a taken port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cli.natsd import NatsServer, NatsServerError, free_port


def test_free_ports_are_distinct_and_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(20000 <= p < low for p in ports)


def test_a_taken_port_at_first_start_moves_to_fresh_ports(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats")
    taken = server.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        server.start()
        try:
            assert server.port != taken
            with socket.create_connection(("127.0.0.1", server.port), timeout=2) as c:
                assert c.recv(4).startswith(b"INFO")
        finally:
            server.stop()
    assert "address already in use" in (tmp_path / "nats" / "nats-server.log").read_text()


def test_fixed_ports_that_stay_taken_give_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        server = NatsServer(tmp_path / "nats", port=port, monitor_port=free_port())
        with pytest.raises(NatsServerError, match="exited with"):
            server.start(attempts=2)
    assert server.port == port
