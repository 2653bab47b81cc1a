"""`reelmill migrate --check`: what the gateway's init container waits for in Kubernetes."""

from __future__ import annotations

from pathlib import Path

from gateway.store import migrate, schema_state


def test_check_fails_until_migrated_then_passes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    current, heads = schema_state.pending(url)
    assert current == set() and heads
    assert not schema_state.wait_current(url, timeout_s=0.2, poll_s=0.1)
    migrate.upgrade(url)
    assert schema_state.pending(url) == (heads, heads)
    assert schema_state.wait_current(url, timeout_s=0)


def test_check_of_an_unreachable_database_fails_in_time() -> None:
    assert not schema_state.wait_current("postgresql://nobody@127.0.0.1:1/x", timeout_s=0.5, poll_s=0.2)
