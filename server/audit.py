"""The audit log: who read in bulk, changed, exported or deleted what.

Changes and deletes of synced records are written by the change-log hook of `ServerSession`
(`server.db`), in the same transaction, from whoever the session acts for (`USER`, `DEVICE`);
a write of many records of one kind (an import, a merge) is one event with its count. Bulk
reads (a pull page, a list of many records), exports and erasures are written where they
happen, with `record`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session

from app.ids import new_id, utcnow
from app.models import table_of
from server.models import AuditEvent

__all__ = ["ACTOR", "BULK_READ", "USER", "change_events", "read_in_bulk", "record", "write_events"]

#: session.info key: the user a request's session acts for (set with the access token).
USER = "terrain_user_id"
#: session.info key: who acts when no user does (a command of the server, the mail sender).
ACTOR = "terrain_actor"
#: A read of at least this many records is a bulk read, and is logged.
BULK_READ = 50
#: More changes than this of one kind in one commit are logged as one event with their count.
ONE_BY_ONE = 20
_DEVICE = "terrain_device_id"  # server.db.DEVICE (not imported: server.db imports this module)


class _Change(Protocol):
    @property
    def entity(self) -> str: ...
    @property
    def row_id(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def account_id(self) -> str | None: ...


def record(
    session: Session,
    *,
    action: str,
    entity: str,
    row_id: str | None = None,
    account_id: str | None = None,
    count: int = 1,
    detail: str | None = None,
) -> None:
    """Log one act of the session's user, written when the session commits."""
    text = detail or session.info.get(ACTOR)
    session.add(
        AuditEvent(
            user_id=session.info.get(USER),
            device_id=session.info.get(_DEVICE),
            action=action,
            entity=entity,
            row_id=row_id,
            account_id=account_id,
            count=count,
            detail=str(text)[:500] if text else None,
        )
    )


def read_in_bulk(session: Session, entity: str, count: int, detail: str | None = None) -> None:
    """Log a read of `count` records when it is a bulk read (committed here: reads commit nothing)."""
    if count >= BULK_READ:
        record(session, action="read", entity=entity, count=count, detail=detail)
        session.commit()


def change_events(session: Session, changes: Iterable[_Change], now: datetime | None = None) -> list[dict[str, Any]]:
    """The audit events of some change-log rows, as rows to insert (`write_events`): one per
    record, or one with its count for more than `ONE_BY_ONE` of a kind (called by `server.db`)."""
    groups: dict[tuple[str, str], list[_Change]] = defaultdict(list)
    for change in changes:
        groups[(change.entity, "delete" if change.op in ("delete", "purge") else "change")].append(change)
    if not groups:
        return []
    when = now or utcnow()
    base: dict[str, Any] = {
        "at": when,
        "user_id": session.info.get(USER),
        "device_id": session.info.get(_DEVICE),
        "detail": session.info.get(ACTOR),
    }
    rows: list[dict[str, Any]] = []
    for (entity, action), items in groups.items():
        if len(items) <= ONE_BY_ONE:
            rows.extend(
                {
                    **base,
                    "id": new_id(),
                    "action": action,
                    "entity": entity,
                    "row_id": c.row_id,
                    "account_id": c.account_id,
                    "count": 1,
                }
                for c in items
            )
        else:
            accounts = {c.account_id for c in items}
            rows.append(
                {
                    **base,
                    "id": new_id(),
                    "action": action,
                    "entity": entity,
                    "row_id": None,
                    "account_id": accounts.pop() if len(accounts) == 1 else None,
                    "count": len(items),
                }
            )
    return rows


_EVENT = sa.insert(table_of(AuditEvent))


def write_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert event rows made by `change_events`, in one statement."""
    if rows:
        session.connection().execute(_EVENT, rows)
