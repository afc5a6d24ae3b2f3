"""Change-log retention: entries older than the retention period are removed, and a device whose
cursor predates them is told to start afresh (410) instead of silently missing deletes."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from app.ids import utcnow
from app.models import table_of
from server.db import lock_change_log
from server.models import COMPACTED_THROUGH, ChangeLog, ServerState

__all__ = ["compact_change_log", "compacted_through"]


def compacted_through(session: Session) -> int:
    state = session.get(ServerState, COMPACTED_THROUGH)
    return int(state.value) if state else 0


def compact_change_log(*, session: Session, older_than: timedelta) -> int:
    """Remove change-log entries older than `older_than`; returns how many went."""
    lock_change_log(session)  # no commit numbers entries while the horizon moves
    log = table_of(ChangeLog)
    cutoff = utcnow() - older_than
    last = session.connection().execute(sa.select(sa.func.max(log.c.seq)).where(log.c.changed_at < cutoff)).scalar()
    if last is None:
        session.commit()
        return 0
    removed = session.connection().execute(sa.delete(log).where(log.c.seq <= last)).rowcount
    state = session.get(ServerState, COMPACTED_THROUGH)
    if state is None:
        session.add(ServerState(key=COMPACTED_THROUGH, value=str(last)))
    else:
        state.value = str(max(int(state.value), last))
    session.commit()
    return int(removed)
