"""Replica-only tables of the sync engine: its state, the outbox of local changes, conflicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from app.ids import utcnow
from app.models import UTCDateTime, table_of

__all__ = [
    "OutboxEntry",
    "SyncConflict",
    "SyncState",
    "create_sync_tables",
    "queue_mutation",
    "read_state",
    "write_state",
]


class SyncState(SQLModel, table=True):
    """Key and value: server URL, signed-in user, device id, cursor, last sync, last error."""

    __tablename__ = "sync_state"
    key: str = Field(primary_key=True, max_length=40)
    value: str | None = None


class OutboxEntry(SQLModel, table=True):
    """A change made on this device and not yet acknowledged by the server.

    `mid` numbers the device's changes; AUTOINCREMENT makes sure a number is never reused, so
    the server can never mistake a new change for one it already applied.
    """

    __tablename__ = "outbox"
    __table_args__ = {"sqlite_autoincrement": True}
    mid: int | None = Field(default=None, primary_key=True)
    entity: str = Field(max_length=40)
    record_id: str = Field(max_length=36, index=True)
    op: str = Field(max_length=10)
    base_version: int | None = None
    fields: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    #: pending, or rejected (kept, with the server's reason, until the rep resends or dismisses it)
    status: str = Field(default="pending", max_length=10)
    reason: str | None = None


class SyncConflict(SQLModel, table=True):
    """A field the rep changed here while someone changed it on the server: the server's value
    stands until the rep picks one."""

    __tablename__ = "sync_conflict"
    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(max_length=40)
    record_id: str = Field(max_length=36)
    field: str = Field(max_length=60)
    server_value: Any = Field(default=None, sa_type=sa.JSON)
    device_value: Any = Field(default=None, sa_type=sa.JSON)
    detected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def create_sync_tables(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine, tables=[table_of(SyncState), table_of(OutboxEntry), table_of(SyncConflict)])


def queue_mutation(
    session: Session, *, entity: str, record_id: str, op: str, fields: dict[str, Any], base_version: int | None = None
) -> OutboxEntry:
    """Add a change to the outbox, in the caller's transaction (the one that wrote the row)."""
    entry = OutboxEntry(entity=entity, record_id=record_id, op=op, base_version=base_version, fields=fields)
    session.add(entry)
    return entry


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
