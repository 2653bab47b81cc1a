"""Database engines: SQLite (WAL, immediate write transactions) or PostgreSQL, from one URL."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Engine, create_engine, event

READ_ONLY: Final = "reelmill_read_only"  # execution option marking a transaction that only reads


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=8,
        )
        _tune_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(
        url,
        pool_size=12,
        max_overflow=12,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args=POSTGRES_CONNECT_ARGS,
    )

    # Set on each new connection (not as libpq `options`, which would replace those of the URL, such
    # as a search_path): a statement the server still runs after this long is cancelled.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        dbapi_conn.commit()

    return engine


# A network partition drops packets rather than refusing them: without these a pooled connection
# waits on the kernel's retransmissions for many minutes, and every call on it with it. libpq's
# tcp_user_timeout ends a connection whose sent data goes unacknowledged, keepalives find an idle one
# dead, statement_timeout (set on connect) bounds a query the server is still running; the store then answers
# UNAVAILABLE and the pool opens a new connection.
POSTGRES_CONNECT_ARGS: Final = {
    "connect_timeout": 3,
    "tcp_user_timeout": 10_000,  # ms
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 2,
}
STATEMENT_TIMEOUT_MS: Final = 30_000


def _tune_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot start BEGIN IMMEDIATE; take it over
    # (SQLAlchemy's documented recipe). Immediate transactions take the write lock up front, so a
    # read-then-write transaction waits for busy_timeout instead of failing with SQLITE_BUSY.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Reads (marked by the store) need no write lock: WAL lets them run beside a writer.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")
