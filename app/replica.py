"""The device's local SQLite replica: where it lives and how it is opened."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from platformdirs import user_data_dir
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from app.geocoding import create_geocoding_tables
from app.models import ENTITIES
from app.search import ensure_search_index
from app.segments import create_segment_tables
from app.sqlite import sqlite_engine

__all__ = ["default_data_dir", "entity_tables", "open_replica"]

REPLICA_FILE = "replica.db"


def default_data_dir() -> Path:
    """`TERRAIN_DATA_DIR`, else the per-user data directory of this platform."""
    configured = os.environ.get("TERRAIN_DATA_DIR")
    return Path(configured) if configured else Path(user_data_dir("terrain", appauthor=False))


def entity_tables() -> list[sa.Table]:
    return [model.__table__ for model in ENTITIES.values()]  # type: ignore[attr-defined]


def _add_new_columns(engine: Engine) -> None:
    """A replica made by an older app lacks the columns added since: add them, with their
    default, so the app and the next pull can write them (SQLite adds a column in place)."""
    with engine.begin() as conn:
        for table in entity_tables():
            present = {row[1] for row in conn.exec_driver_sql(f'PRAGMA table_info("{table.name}")')}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = getattr(column.default, "arg", None) if column.default is not None else None
                if default is None and not column.nullable:
                    raise RuntimeError(f"{table.name}.{column.name} needs a default to be added to an old replica")
                literal = (
                    ""
                    if default is None
                    else f" NOT NULL DEFAULT {int(default) if isinstance(default, bool) else repr(default)}"
                )
                conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}{literal}')


def open_replica(data_dir: Path) -> Engine:
    """Open (and create on first use) the replica in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = sqlite_engine(f"sqlite:///{data_dir / REPLICA_FILE}", foreign_keys=False)
    SQLModel.metadata.create_all(engine, tables=entity_tables())
    _add_new_columns(engine)
    with engine.begin() as conn:
        # Who buys a product: the card's next-best products read it. The server has no use for it.
        conn.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS ix_order_line_product_account ON order_line (product_id, account_id)"
        )
    ensure_search_index(engine)
    create_geocoding_tables(engine)
    create_segment_tables(engine)  # personal, never synced
    return engine
