"""SQLite engines as Terrain uses them, on the device and on a server without PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

__all__ = ["sqlite_engine"]

CACHE_KIB = 16 * 1024


def sqlite_engine(url: str, *, foreign_keys: bool, busy_timeout_ms: int = 10_000, **kwargs: Any) -> Engine:
    """WAL with synchronous=NORMAL (durable at each checkpoint, fast commits) and a busy timeout.

    The replica leaves foreign keys unenforced: a pull page may bring a child before its parent.
    The encrypted replica passes `creator` (a connection already keyed, `PRAGMA key` first) and
    `module` (SQLCipher's, so that its errors are SQLAlchemy's) through `kwargs`; these pragmas
    then run on it as on any other.
    """
    engine = sa.create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # A page cache that holds a customer's whole history (a card reads a few hundred pages)
        # where SQLite's default keeps 2 MiB. Memory-mapped reads were tried: no faster here,
        # and every mapped page of the file counts in the app's memory.
        cur.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        if foreign_keys:
            cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine
