"""The device's local SQLite replica: where it lives and how it is opened."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from platformdirs import user_data_dir
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from app.models import ENTITIES

__all__ = ["default_data_dir", "entity_tables", "open_replica"]

REPLICA_FILE = "replica.db"


def default_data_dir() -> Path:
    """`TERRAIN_DATA_DIR`, else the per-user data directory of this platform."""
    configured = os.environ.get("TERRAIN_DATA_DIR")
    return Path(configured) if configured else Path(user_data_dir("terrain", appauthor=False))


def entity_tables() -> list[sa.Table]:
    return [model.__table__ for model in ENTITIES.values()]  # type: ignore[attr-defined]


def open_replica(data_dir: Path) -> Engine:
    """Open (and create on first use) the replica in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{data_dir / REPLICA_FILE}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    SQLModel.metadata.create_all(engine, tables=entity_tables())
    return engine
