"""Whether a database's schema is at the newest migration: what a gateway started with migrations
turned off waits for (in Kubernetes, the migration Job runs them once, before the gateways serve)."""

from __future__ import annotations

import logging
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError

from gateway.errors import DatabaseUnavailableError
from gateway.store.engine import make_engine
from gateway.store.migrate import alembic_config

log = logging.getLogger(__name__)


def pending(url: str) -> tuple[set[str], set[str]]:
    """(revisions the database is at, newest revisions); equal when nothing is pending."""
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except DBAPIError as e:
        raise DatabaseUnavailableError(f"database unavailable: {e.orig or e}") from e
    finally:
        engine.dispose()
    return current, heads


def wait_current(url: str, timeout_s: float, poll_s: float = 2.0) -> bool:
    """Polls until the schema is current (True) or `timeout_s` has passed (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            current, heads = pending(url)
            if current == heads:
                log.info("database schema is current (%s)", ", ".join(sorted(heads)))
                return True
            reason = f"database schema at {sorted(current) or 'nothing'}, newest is {sorted(heads)}"
        except DatabaseUnavailableError as e:
            reason = str(e)
        if time.monotonic() >= deadline:
            log.error("%s; run `reelmill migrate`", reason)
            return False
        time.sleep(poll_s)
