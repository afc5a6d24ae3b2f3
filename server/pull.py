"""Pull: the changes in a device's scope, page by page, under one snapshot bound.

A first pull (no cursor) reads the scope's tables directly, entity by entity in key order; a
later pull reads the change log after the stored cursor. Either way every page of one pull
stops at the same bound, the change-log sequence number current when the pull began, and the
last page hands back that bound as the cursor to keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from app.models import ENTITIES, Account, entity_table, table_of
from server.compact import compacted_through
from server.models import ChangeLog, User
from server.scope import scope_owner_ids
from sync.wire import Change, PullPage

__all__ = ["BadCursor", "CursorTooOld", "pull_page"]

_ENTITY_NAMES = list(ENTITIES)


class BadCursor(ValueError):
    """The cursor was not made by this server: the device should start a fresh pull."""


class CursorTooOld(ValueError):
    """The change log no longer reaches back to this cursor: the device must pull afresh."""


@dataclass(frozen=True, slots=True)
class _Position:
    """Where a pull is: in the snapshot (entity index and last id) or in the log (last seq)."""

    bound: int
    snapshot: bool
    entity_index: int = 0
    last_id: str = ""
    last_seq: int = 0

    def token(self) -> str:
        if self.snapshot:
            return f"s.{self.bound}.{self.entity_index}.{self.last_id}"
        return f"d.{self.bound}.{self.last_seq}"


def _parse(cursor: str | None, current_seq: int) -> _Position:
    if not cursor:
        return _Position(bound=current_seq, snapshot=True)
    try:
        if cursor.startswith("s."):
            bound, index, last_id = cursor[2:].split(".", 2)
            pos = _Position(int(bound), True, int(index), last_id)
        elif cursor.startswith("d."):
            bound, last_seq = cursor[2:].split(".")
            pos = _Position(int(bound), False, last_seq=int(last_seq))
        else:
            pos = _Position(current_seq, False, last_seq=int(cursor))
    except ValueError as exc:
        raise BadCursor(f"malformed cursor {cursor!r}") from exc
    if not (0 <= pos.last_seq <= pos.bound <= current_seq and 0 <= pos.entity_index <= len(_ENTITY_NAMES)):
        raise BadCursor(f"cursor {cursor!r} does not fit this server's change log")
    return pos


def _current_seq(session: Session) -> int:
    log = table_of(ChangeLog)
    newest = int(session.connection().execute(sa.select(sa.func.coalesce(sa.func.max(log.c.seq), 0))).scalar_one())
    return max(newest, compacted_through(session))  # an emptied log still knows how far it went


def _account_ids_subquery(owner_ids: list[str] | None) -> Any:
    query = sa.select(Account.id)  # type: ignore[call-overload]
    if owner_ids is not None:
        query = query.where(Account.owner_id.in_(owner_ids))  # type: ignore[union-attr]
    return query


def _scope_clause(table: sa.Table, owner_ids: list[str] | None) -> Any:
    if owner_ids is None:
        return sa.true()
    if table.name == "account":
        return table.c.owner_id.in_(owner_ids)
    if "account_id" not in table.c:
        return sa.true()  # catalogue: every device gets it
    in_scope = table.c.account_id.in_(_account_ids_subquery(owner_ids))
    return sa.or_(table.c.account_id.is_(None), in_scope) if table.c.account_id.nullable else in_scope


def _row_out(row: sa.Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)


def _snapshot_page(session: Session, user_scope: list[str] | None, pos: _Position, limit: int) -> PullPage:
    conn = session.connection()
    changes: list[Change] = []
    index, last_id = pos.entity_index, pos.last_id
    while index < len(_ENTITY_NAMES) and len(changes) < limit:
        name = _ENTITY_NAMES[index]
        table = entity_table(name)
        query = (
            sa.select(table)
            .where(_scope_clause(table, user_scope), table.c.id > last_id)
            .order_by(table.c.id)
            .limit(limit - len(changes))
        )
        rows = conn.execute(query).all()
        for row in rows:
            changes.append(
                Change(seq=pos.bound, entity=name, op="upsert", id=row.id, version=row.version, row=_row_out(row))
            )
        if len(changes) < limit:
            index, last_id = index + 1, ""
        else:
            last_id = rows[-1].id
    done = index >= len(_ENTITY_NAMES)
    if done:
        return PullPage(changes=changes, cursor=str(pos.bound), has_more=False)
    return PullPage(changes=changes, cursor=_Position(pos.bound, True, index, last_id).token(), has_more=True)


def _log_page(session: Session, owner_ids: list[str] | None, pos: _Position, limit: int) -> PullPage:
    conn = session.connection()
    log = table_of(ChangeLog)
    query = sa.select(log.c.seq, log.c.entity, log.c.row_id, log.c.op, log.c.account_id).where(
        log.c.seq > pos.last_seq,
        log.c.seq <= pos.bound,
    )
    if owner_ids is not None:
        query = query.where(sa.or_(log.c.account_id.is_(None), log.c.owner_id.in_(owner_ids)))
    entries = conn.execute(query.order_by(log.c.seq).limit(limit)).all()
    latest = _latest_changes(entries)
    wanted: dict[str, list[str]] = {}
    for entity, row_id, op in latest:
        if op != "purge" and entity in ENTITIES:
            wanted.setdefault(entity, []).append(row_id)
    rows: dict[tuple[str, str], Any] = {}
    for entity, ids in wanted.items():
        table = entity_table(entity)
        query_rows = sa.select(table).where(table.c.id.in_(ids))
        for record in conn.execute(query_rows):
            rows[(entity, record.id)] = record
    in_scope = _accounts_in_scope(session, owner_ids, {_row_account(e, r) for (e, _), r in rows.items()})
    changes: list[Change] = []
    for (entity, row_id, _op), entry in latest.items():
        if entry.op == "purge":
            changes.append(Change(seq=entry.seq, entity=entry.entity, op="purge", id=entry.row_id))
            continue
        current = rows.get((entity, row_id))
        if current is None:
            changes.append(Change(seq=entry.seq, entity=entry.entity, op="delete", id=entry.row_id))
        elif (account_id := _row_account(entry.entity, current)) is None or in_scope is None or account_id in in_scope:
            changes.append(
                Change(
                    seq=entry.seq,
                    entity=entry.entity,
                    op="upsert",
                    id=current.id,
                    version=current.version,
                    row=_row_out(current),
                )
            )
    if len(entries) == limit:
        return PullPage(
            changes=changes, cursor=_Position(pos.bound, False, last_seq=entries[-1].seq).token(), has_more=True
        )
    return PullPage(changes=changes, cursor=str(pos.bound), has_more=False)


def _latest_changes(entries: Sequence[Any]) -> dict[tuple[str, str, str], Any]:
    """The entries worth sending, in log order.

    Only a record's latest change matters (its row is read as it is now). A purge is never
    merged with anything: it drops what came before it for its account, and what comes after
    it (the account given back, or kept by a manager) is sent after it.
    """
    latest: dict[tuple[str, str, str], Any] = {}
    for entry in entries:
        if entry.op == "purge":
            for key in [k for k, e in latest.items() if e.account_id == entry.account_id]:
                del latest[key]
            latest[(entry.entity, entry.row_id, f"purge-{entry.seq}")] = entry
            continue
        key = (entry.entity, entry.row_id, "")
        latest.pop(key, None)
        latest[key] = entry
    return latest


def _row_account(entity: str, row: sa.Row[Any]) -> str | None:
    if entity == "account":
        return str(row.id)
    return getattr(row, "account_id", None)


def _accounts_in_scope(session: Session, owner_ids: list[str] | None, account_ids: set[str | None]) -> set[str] | None:
    """Of these accounts, those the user reaches now (None: all of them)."""
    if owner_ids is None:
        return None
    account_ids.discard(None)
    if not account_ids:
        return set()
    query = sa.select(Account.id).where(Account.id.in_(account_ids), Account.owner_id.in_(owner_ids))  # type: ignore[call-overload,attr-defined,union-attr]
    return set(session.connection().execute(query).scalars())


def pull_page(*, session: Session, user: User, cursor: str | None, limit: int) -> PullPage:
    """One page of the user's changes after `cursor`."""
    pos = _parse(cursor, _current_seq(session))
    if not pos.snapshot and pos.last_seq < compacted_through(session):
        raise CursorTooOld(f"changes before {compacted_through(session)} are no longer kept")
    owner_ids = scope_owner_ids(session, user)
    if pos.snapshot:
        return _snapshot_page(session, owner_ids, pos, limit)
    return _log_page(session, owner_ids, pos, limit)
