"""Change-log retention: entries older than the retention period are removed, and a device whose
cursor predates them is told to start afresh (410) instead of silently missing deletes.

Safe while reps sync: each batch is removed, and the horizon moved, in one transaction under
the change-log lock, so no commit is numbered while the horizon moves; and a pull reads the
horizon again after its entries (server/pull.py), so a page read while a batch went is refused
rather than sent with holes.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from app.ids import utcnow
from app.models import table_of
from server.db import begin_write, lock_change_log
from server.models import COMPACTED_THROUGH, ChangeLog, ServerState

__all__ = ["BATCH", "compact_change_log", "compacted_through", "log_extent", "set_horizon"]

#: Entries removed per transaction: the change-log lock, which every writer waits for, is held
#: for one batch at a time (tens of milliseconds), not for the whole compaction.
BATCH = 20_000


_HORIZON = sa.select(table_of(ServerState).c.value).where(table_of(ServerState).c.key == COMPACTED_THROUGH)
_EXTENT = sa.select(sa.select(sa.func.max(table_of(ChangeLog).c.seq)).scalar_subquery(), _HORIZON.scalar_subquery())


def compacted_through(session: Session) -> int:
    """The horizon: the change log holds no entry at or before it. Read from the database
    each time (never from the session's identity map: a compaction may just have moved it)."""
    value = session.connection().execute(_HORIZON).scalar()
    return int(value) if value is not None else 0


def log_extent(session: Session) -> tuple[int, int]:
    """The horizon and the change log's position (its newest number, or the horizon when it
    went further: an emptied log still knows how far it went), in one round trip."""
    newest, horizon = session.connection().execute(_EXTENT).one()
    horizon = int(horizon or 0)
    return horizon, max(int(newest or 0), horizon)


def compact_change_log(*, session: Session, older_than: timedelta, batch: int = BATCH) -> int:
    """Remove change-log entries older than `older_than`, a batch per transaction; returns how
    many went."""
    log = table_of(ChangeLog)
    cutoff = utcnow() - older_than
    last = session.connection().execute(sa.select(sa.func.max(log.c.seq)).where(log.c.changed_at < cutoff)).scalar()
    session.commit()
    removed = 0
    while last is not None:
        begin_write(session)  # SQLite: the write lock first, as every writer takes it
        lock_change_log(session)  # no commit numbers entries while the horizon moves
        start = compacted_through(session)
        # From the oldest entry, which may lie below the horizon (a restore's fence keeps them).
        first = session.connection().execute(sa.select(sa.func.min(log.c.seq))).scalar()
        through = last if first is None else min(last, int(first) + batch - 1)
        removed += session.connection().execute(sa.delete(log).where(log.c.seq <= through)).rowcount
        set_horizon(session, max(start, through))
        session.commit()
        if through >= last:
            break
    return removed


def set_horizon(session: Session, seq: int) -> None:
    """Count the change log up to `seq` as compacted (a device whose cursor is older: 410)."""
    state = session.get(ServerState, COMPACTED_THROUGH)
    if state is None:
        session.add(ServerState(key=COMPACTED_THROUGH, value=str(seq)))
    else:
        state.value = str(seq)
