"""Pull: the changes in a device's scope, page by page, under one snapshot bound.

A first pull (no cursor) reads the scope's tables directly, entity by entity in key order; a
later pull reads the change log after the stored cursor. Either way every page of one pull
stops at the same bound, the change-log sequence number current when the pull began, and the
last page hands back that bound as the cursor to keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlmodel import Session

from app.models import ENTITIES, Account, UTCDateTime, entity_table, table_of
from server.compact import compacted_through, log_extent
from server.models import ChangeLog, User
from server.scope import scope_owner_ids
from sync.wire import MAX_INTEGER

__all__ = ["BadCursor", "CursorAhead", "CursorTooOld", "Page", "page_records", "pull_page", "wire_row"]

_ENTITY_NAMES = list(ENTITIES)


class BadCursor(ValueError):
    """The cursor was not made by this server: the device should start a fresh pull."""


class CursorTooOld(ValueError):
    """The change log no longer reaches back to this cursor: the device must pull afresh."""


class CursorAhead(CursorTooOld):
    """The cursor is past this server's change log: the server was restored from a backup older
    than what the device saw, and the device must pull afresh (410, as for a cursor too old)."""


#: A first pull reads records under accounts this many accounts at a time.
ACCOUNT_BATCH = 500
#: After every id: the last account of a batch is done.
_PAST_ALL = "~"
#: The position of the phase, after the accounts, of rows that belong to no account.
_UNOWNED = "*"


@dataclass(frozen=True, slots=True)
class _Position:
    """Where a pull is: in the snapshot (entity index, last account and last id) or in the log
    (last seq). In the snapshot, records under accounts go account by account, in (account_id,
    id) order: an index range scan per page, however large the table."""

    bound: int
    snapshot: bool
    entity_index: int = 0
    last_account: str = ""
    last_id: str = ""
    last_seq: int = 0

    def token(self) -> str:
        if self.snapshot:
            return f"s.{self.bound}.{self.entity_index}.{self.last_account}.{self.last_id}"
        return f"d.{self.bound}.{self.last_seq}"


def _parse(cursor: str | None, current_seq: int) -> _Position:
    if not cursor:
        return _Position(bound=current_seq, snapshot=True)
    try:
        if cursor.startswith("s."):
            bound, index, last_account, last_id = cursor[2:].split(".", 3)
            pos = _Position(int(bound), True, int(index), last_account, last_id)
        elif cursor.startswith("d."):
            bound, last_seq = cursor[2:].split(".")
            pos = _Position(int(bound), False, last_seq=int(last_seq))
        else:
            seq = int(cursor)
            pos = _Position(max(current_seq, seq), False, last_seq=seq)
    except ValueError as exc:
        raise BadCursor(f"malformed cursor {cursor!r}") from exc
    if not (0 <= pos.last_seq <= pos.bound <= MAX_INTEGER and 0 <= pos.entity_index <= len(_ENTITY_NAMES)):
        raise BadCursor(f"cursor {cursor!r} does not fit this server's change log")
    if pos.bound > current_seq:  # a position this log never reached: it was put back from a backup
        raise CursorAhead("this server's data is older than this device's: it was restored from a backup")
    return pos


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


# Pages are built as plain dicts in the shape of `sync.wire.PullPage` and go out through orjson:
# a pydantic object per row would cost more than reading the row. `PullPage` documents them.
Page = dict[str, Any]


def _change(seq: int, entity: str, op: str, row_id: str, row: dict[str, Any] | None = None) -> dict[str, Any]:
    version = row["version"] if row is not None else None
    return {"seq": seq, "entity": entity, "op": op, "id": row_id, "version": version, "row": row}


def _page(changes: list[dict[str, Any]], cursor: str, has_more: bool) -> Page:
    return {"changes": changes, "cursor": cursor, "has_more": has_more}


def _wire_columns(name: str, dialect: str) -> tuple[list[Any], list[int]]:
    """The columns of a table as the wire carries them, converted by the database itself.

    Times go out as ISO 8601 in UTC with microseconds (`2026-11-22T10:00:00.000000Z`), one
    fixed form a device stores without parsing; JSON columns go out as the text stored, embedded
    as it is. No per-value conversion in Python: this is the hot path of a first sync.
    """
    columns: list[Any] = []
    json_indexes: list[int] = []
    for index, column in enumerate(entity_table(name).columns):
        expression: Any = column
        if isinstance(column.type, UTCDateTime):
            if dialect == "sqlite":  # stored as "2026-11-22 10:00:00.000000", in UTC
                expression = sa.func.replace(column, " ", "T").op("||")("Z")
            else:
                expression = sa.func.to_char(
                    sa.func.timezone("UTC", column), sa.literal_column('\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\'')
                )
            expression = sa.type_coerce(expression, sa.String)
        elif isinstance(column.type, sa.Date):
            expression = sa.type_coerce(column, sa.String) if dialect == "sqlite" else column
        elif isinstance(column.type, sa.JSON):
            expression = sa.type_coerce(column, sa.String) if dialect == "sqlite" else sa.cast(column, sa.Text)
            json_indexes.append(index)
        columns.append(expression.label(column.name))
    return columns, json_indexes


@lru_cache
def _wire_query(name: str, dialect: str) -> tuple[Any, list[int]]:
    """A table's records as the wire carries them (built once per table and dialect)."""
    columns, json_indexes = _wire_columns(name, dialect)
    return sa.select(*columns).select_from(entity_table(name)), json_indexes


def _raw_rows(conn: sa.Connection, query: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a select through the DB-API cursor: plain tuples, no result object per row."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    args = tuple(params[name] for name in compiled.positiontup) if compiled.positiontup is not None else params
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), args)
        return [c.name for c in query.selected_columns], list(cursor.fetchall())
    finally:
        cursor.close()


def _wire_values(rows: Sequence[Any], json_indexes: list[int]) -> list[Any]:
    """Rows as JSON arrays, JSON columns embedded as they are stored."""
    if not json_indexes:
        return list(rows)
    out = []
    for row in rows:
        values = list(row)
        for index in json_indexes:
            if values[index] is not None:
                values[index] = orjson.Fragment(values[index])
        out.append(values)
    return out


def _wire_rows(columns: list[str], rows: Sequence[Any], json_indexes: list[int]) -> list[dict[str, Any]]:
    return [dict(zip(columns, values, strict=True)) for values in _wire_values(rows, json_indexes)]


def wire_row(conn: sa.Connection, entity: str, row_id: str) -> dict[str, Any] | None:
    """One record in the form pulls send it."""
    query, json_indexes = _wire_query(entity, conn.dialect.name)
    columns, rows = _raw_rows(conn, query.where(entity_table(entity).c.id == row_id))
    if not rows:
        return None
    values = list(rows[0])
    for index in json_indexes:  # decoded: this row goes out through pydantic, not orjson alone
        values[index] = None if values[index] is None else orjson.loads(values[index])
    return dict(zip(columns, values, strict=True))


def _snapshot_page(session: Session, owner_ids: list[str] | None, pos: _Position, limit: int) -> Page:
    """Records as they are now, entity by entity, as `UpsertBatch`es of at most `limit` records."""
    conn = session.connection()
    changes: list[dict[str, Any]] = []
    count = 0  # records in the page
    index, last_account, last_id = pos.entity_index, pos.last_account, pos.last_id
    while index < len(_ENTITY_NAMES) and count < limit:
        name = _ENTITY_NAMES[index]
        table = entity_table(name)
        room = limit - count
        query, json_indexes = _wire_query(name, conn.dialect.name)
        by_account = "account_id" in table.c and last_account != _UNOWNED
        if by_account:
            accounts = (
                conn.execute(
                    sa.select(Account.id)  # type: ignore[call-overload]
                    .where(
                        _scope_clause(table_of(Account), owner_ids),
                        # Past the last batch's last account, or from the account a page stopped in.
                        Account.id > last_account if last_id == _PAST_ALL else Account.id >= last_account,
                    )
                    .order_by(Account.id)
                    .limit(ACCOUNT_BATCH)
                )
                .scalars()
                .all()
            )
            if not accounts:  # every account done; then rows that belong to none, if the table has any
                if table.c.account_id.nullable:
                    last_account, last_id = _UNOWNED, ""
                else:
                    index, last_account, last_id = index + 1, "", ""
                continue
            query = query.where(
                table.c.account_id.in_(accounts),
                sa.tuple_(table.c.account_id, table.c.id) > sa.tuple_(sa.literal(last_account), sa.literal(last_id)),
            ).order_by(table.c.account_id, table.c.id)
        else:
            # The catalogue, the accounts themselves, and rows under no account: in id order.
            where = _scope_clause(table, owner_ids) if "account_id" not in table.c else table.c.account_id.is_(None)
            query = query.where(where, table.c.id > last_id).order_by(table.c.id)
        columns, rows = _raw_rows(conn, query.limit(room))
        if rows:
            count += len(rows)
            values = _wire_values(rows, json_indexes)
            if changes and changes[-1]["entity"] == name:
                changes[-1]["rows"].extend(values)
            else:
                changes.append({"seq": pos.bound, "entity": name, "op": "upsert", "columns": columns, "rows": values})
        if len(rows) == room:  # the page is full: it stops at this row
            last = dict(zip(columns, rows[-1], strict=True))
            last_id = last["id"]
            if by_account:
                last_account = last["account_id"]
        elif by_account:  # this batch of accounts is done
            last_account, last_id = accounts[-1], _PAST_ALL
        else:
            index, last_account, last_id = index + 1, "", ""
    if index >= len(_ENTITY_NAMES):
        return _page(changes, str(pos.bound), has_more=False)
    return _page(changes, _Position(pos.bound, True, index, last_account, last_id).token(), has_more=True)


@lru_cache
def _log_entries(scoped: bool) -> Any:
    """The change log's entries of a page (built once: every delta pull of every device runs it)."""
    log = table_of(ChangeLog)
    query = sa.select(log.c.seq, log.c.entity, log.c.row_id, log.c.op, log.c.account_id).where(
        log.c.seq > sa.bindparam("after"), log.c.seq <= sa.bindparam("bound")
    )
    if not scoped:
        return query.order_by(log.c.seq).limit(sa.bindparam("limit"))
    # The owners' entries and those under no account, each read along its own index (an OR
    # would read every entry since the cursor, whosever it is), then merged in log order.
    owned = query.where(
        log.c.account_id.is_not(None), log.c.owner_id.in_(sa.bindparam("owners", expanding=True))
    ).order_by(log.c.seq)
    unowned = query.where(log.c.account_id.is_(None)).order_by(log.c.seq)
    both = sa.union_all(
        owned.limit(sa.bindparam("limit")).subquery().select(),
        unowned.limit(sa.bindparam("limit")).subquery().select(),
    ).subquery()
    return sa.select(both).order_by(both.c.seq).limit(sa.bindparam("limit"))


@lru_cache
def _records_by_id(name: str, dialect: str) -> tuple[Any, list[int]]:
    query, json_indexes = _wire_query(name, dialect)
    return query.where(entity_table(name).c.id.in_(sa.bindparam("ids", expanding=True))), json_indexes


def _log_page(session: Session, owner_ids: list[str] | None, pos: _Position, limit: int) -> Page:
    conn = session.connection()
    params: dict[str, Any] = {"after": pos.last_seq, "bound": pos.bound, "limit": limit}
    if owner_ids is not None:
        params["owners"] = owner_ids
    entries = conn.execute(_log_entries(owner_ids is not None), params).all()
    latest = _latest_changes(entries)
    wanted: dict[str, list[str]] = {}
    for entity, row_id, op in latest:
        if op != "purge" and entity in ENTITIES:
            wanted.setdefault(entity, []).append(row_id)
    rows: dict[tuple[str, str], Any] = {}
    for entity, ids in wanted.items():
        query_rows, json_indexes = _records_by_id(entity, conn.dialect.name)
        # A few records at a time here: the statement's compiled form is reused (not _raw_rows).
        result = conn.execute(query_rows, {"ids": ids})
        for record in _wire_rows(list(result.keys()), result.all(), json_indexes):
            rows[(entity, record["id"])] = record
    in_scope = _accounts_in_scope(session, owner_ids, rows)
    changes: list[dict[str, Any]] = []
    for (entity, row_id, _op), entry in latest.items():
        if entry.op == "purge":
            changes.append(_change(entry.seq, entry.entity, "purge", entry.row_id))
            continue
        current = rows.get((entity, row_id))
        if current is None:
            changes.append(_change(entry.seq, entry.entity, "delete", entry.row_id))
        elif (account_id := _row_account(entry.entity, current)) is None or in_scope is None or account_id in in_scope:
            changes.append(_change(entry.seq, entry.entity, "upsert", current["id"], current))
    if len(entries) == limit:
        return _page(changes, _Position(pos.bound, False, last_seq=entries[-1].seq).token(), has_more=True)
    return _page(changes, str(pos.bound), has_more=False)


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


def _row_account(entity: str, row: dict[str, Any]) -> str | None:
    if entity == "account":
        return str(row["id"])
    return row.get("account_id")


def _accounts_in_scope(
    session: Session, owner_ids: list[str] | None, rows: dict[tuple[str, str], dict[str, Any]]
) -> set[str] | None:
    """Of the accounts of these rows, those the user reaches now (None: all of them). An account
    whose own row was read is judged by its owner there; the others are read."""
    if owner_ids is None:
        return None
    owners = set(owner_ids)
    in_scope = {row["id"] for (entity, _), row in rows.items() if entity == "account" and row["owner_id"] in owners}
    read = {row["id"] for (entity, _), row in rows.items() if entity == "account"}
    others = {a for (entity, _), row in rows.items() if (a := _row_account(entity, row)) is not None} - read
    if others:
        params = {"ids": sorted(others), "owners": owner_ids}
        in_scope.update(session.connection().execute(_REACHED, params).scalars())
    return in_scope


_REACHED = sa.select(table_of(Account).c.id).where(
    table_of(Account).c.id.in_(sa.bindparam("ids", expanding=True)),
    table_of(Account).c.owner_id.in_(sa.bindparam("owners", expanding=True)),
)


def pull_page(*, session: Session, user: User, cursor: str | None, limit: int) -> Page:
    """One page of the user's changes after `cursor`, shaped as `sync.wire.PullPage`."""
    horizon, current = log_extent(session)
    pos = _parse(cursor, current)
    if not pos.snapshot and pos.last_seq < horizon:
        raise CursorTooOld(f"changes before {horizon} are no longer kept")
    owner_ids = scope_owner_ids(session, user)
    if pos.snapshot:
        page = _snapshot_page(session, owner_ids, pos, limit)
    else:
        page = _log_page(session, owner_ids, pos, limit)
        # A compaction that committed while this page was read may have taken entries from
        # under it (each statement sees what is committed when it starts): read the horizon
        # again, after the entries. Moved past this cursor, the page may lack some: 410.
        if pos.last_seq < (moved := compacted_through(session)):
            raise CursorTooOld(f"changes before {moved} are no longer kept")
    if not cursor or cursor.isdigit():  # the first page of a pull says how much is coming
        page["total"] = _total(session, owner_ids, pos) if page["has_more"] else page_records(page)
    return page


def page_records(page: Page) -> int:
    """How many records a page sends."""
    return sum(len(c["rows"]) if "rows" in c else 1 for c in page["changes"])


def _total(session: Session, owner_ids: list[str] | None, pos: _Position) -> int:
    """How many records this pull will send (for a change-log pull, at most this many)."""
    conn = session.connection()
    if pos.snapshot:
        return sum(
            int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(entity_table(name))
                    .where(_scope_clause(entity_table(name), owner_ids))
                ).scalar_one()
            )
            for name in _ENTITY_NAMES
        )
    log = table_of(ChangeLog)
    query = sa.select(sa.func.count()).where(log.c.seq > pos.last_seq, log.c.seq <= pos.bound)
    if owner_ids is not None:
        query = query.where(sa.or_(log.c.account_id.is_(None), log.c.owner_id.in_(owner_ids)))
    return int(conn.execute(query).scalar_one())
