"""Replica-only tables of the sync engine: what the device knows about its sync."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from app.models import table_of

__all__ = ["SyncState", "create_sync_tables", "read_state", "write_state"]


class SyncState(SQLModel, table=True):
    """Key and value: server URL, signed-in user, device id, cursor, last sync, last error."""

    __tablename__ = "sync_state"
    key: str = Field(primary_key=True, max_length=40)
    value: str | None = None


def create_sync_tables(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine, tables=[table_of(SyncState)])


def read_state(session: Session) -> dict[str, str | None]:
    return {row.key: row.value for row in session.exec(select(SyncState))}


def write_state(session: Session, **values: str | None) -> None:
    """Set keys in the caller's transaction; a value of None removes the key."""
    for key, value in values.items():
        row = session.get(SyncState, key)
        if value is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(SyncState(key=key, value=value))
        else:
            row.value = value
