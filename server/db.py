"""The server's database: engine, sessions, and the change log written at every commit.

Every insert, update and delete of a synced record made through a `ServerSession` bumps the
record's version and appends to `change_log` just before the transaction commits. On
PostgreSQL the entries wait in `change_log_pending` and the database moves them into the change
log as the transaction commits, under a transaction-level advisory lock held only from there to
the end of the commit (a deferred trigger, migration 0014), so sequence numbers are handed out
in commit order and a late commit can never be skipped by a pulling device.
"""

from __future__ import annotations

import select as io_select
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, SessionTransaction, UOWTransaction
from sqlmodel import Session, col, select

from app.ids import utcnow
from app.models import ENTITIES, Account, Record, entity_table, table_of
from app.sqlite import sqlite_engine
from server.audit import change_events, write_events
from server.models import ChangeLog, FieldChange

__all__ = [
    "IN_LIST",
    "PendingChange",
    "advisory_lock",
    "ServerSession",
    "begin_write",
    "chunks",
    "get_engine",
    "make_engine",
    "DEVICE",
    "FIELD_MERGED",
    "lock_change_log",
    "queued_changes",
    "record_changes",
    "savepoint",
    "step",
]

#: How long a server request waits for SQLite's write lock before giving up.
SQLITE_BUSY_MS = 60_000
#: Any constant shared by every server process: the lock that orders change-log commits.
CHANGE_LOG_LOCK = 0x7465727261696E  # "terrain"
_PENDING = "terrain_pending_changes"
_FIELDS = "terrain_field_changes"
#: How many of the queued changes already have their audit events (made at each savepoint's
#: release, and at the end of each `step`).
_AUDITED = "terrain_audited_changes"
#: Those events, as rows: written with the change log, at the transaction's own commit.
_EVENTS = "terrain_audit_events"
#: session.info key: the device the session's changes come from (set from the access token).
DEVICE = "terrain_device_id"
_BOOKKEEPING = frozenset({"id", "version", "updated_at", "created_at"})
#: Entities merged field by field on push: the server remembers when each field last changed.
FIELD_MERGED = frozenset({"account", "contact", "visit", "reminder", "ticket", "opportunity"})


@dataclass(frozen=True, slots=True)
class PendingChange:
    entity: str
    row_id: str
    op: str
    account_id: str | None
    #: Known for accounts (and purges); looked up from the account at commit otherwise.
    owner_id: str | None = None
    owner_known: bool = False


class ServerSession(Session):
    """A session whose commits write the change log."""


#: libpq's TCP settings for every PostgreSQL connection, unless the database URL sets its own
#: (`?keepalives_idle=60`...). Keepalives after 30 s idle keep a pooled connection's state alive
#: in the firewalls and NATs between server and database, and find a peer that vanished without
#: a word in about a minute; `tcp_user_timeout` (ms) fails a request sent to such a peer after
#: 30 s instead of after the kernel's retransmissions, about 15 minutes, so the pool replaces the
#: connection. Neither applies to a Unix socket.
TCP_SETTINGS = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        # Writers queue for SQLite's one write lock: a push of a thousand changes takes seconds.
        return sqlite_engine(url, foreign_keys=True, busy_timeout_ms=SQLITE_BUSY_MS, **kwargs)
    given = sa.engine.make_url(url).query
    connect_args = {key: value for key, value in TCP_SETTINGS.items() if key not in given}
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _plan_each_execution)
    event.listen(engine, "checkin", _returned)
    event.listen(engine, "checkout", partial(_lent, engine.dialect))
    return engine


#: A pooled PostgreSQL connection idle this long is pinged before it is lent again.
IDLE_PING_SECONDS = 30.0
_IDLE_SINCE = "terrain_idle_since"


def _returned(_dbapi_connection: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _has_input(dbapi_connection: Any) -> bool:
    """Whether the database said something to a connection that asked nothing (its farewell
    before closing it, a restart's or an administrator's), without a round trip."""
    try:
        fd = dbapi_connection.fileno()
    except Exception:  # noqa: BLE001 (closed already: the ping says so)
        return True
    if hasattr(io_select, "poll"):
        poller = io_select.poll()
        poller.register(fd, io_select.POLLIN)
        return bool(poller.poll(0))
    return bool(io_select.select([fd], [], [], 0)[0])


def _lent(dialect: sa.Dialect, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Lend a pooled connection as it is, unless the database spoke to it while it sat in the
    pool or it sat there long: then ping it, and a dead one is replaced by a new connection.

    Instead of `pool_pre_ping`: a round trip before every request (1.6 % of the server's CPU
    samples in a profile of bench/load.py, and some of the database's time). A connection the
    database closed (a restart, `pg_terminate_backend`) has its farewell waiting on its socket.
    One cut without a word (a peer gone, a firewall's dropped state) is not seen here unless it
    sat idle IDLE_PING_SECONDS: reused sooner, it fails that request, and SQLAlchemy then renews
    the pool's connections (as a request under way when the link dies fails either way)."""
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is None:  # opened for this checkout
        return
    if time.monotonic() - idle_since < IDLE_PING_SECONDS and not _has_input(dbapi_connection):
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as exc:  # noqa: BLE001 (whatever the driver raises: the pool opens another)
        raise sa.exc.DisconnectionError(f"a pooled connection failed its ping: {exc}") from exc


def _plan_each_execution(dbapi_connection: Any, _record: object) -> None:
    """PostgreSQL plans each execution of a prepared statement for its own values.

    psycopg prepares a statement run five times; PostgreSQL may then keep one generic plan for
    it, chosen with the table's statistics of that moment. A table that was empty then (a new
    database) keeps being read as if it still were until the next ANALYZE: in bench/load.py the
    push's read of field changes became a sequential scan of 6 to 25 ms instead of a 0.01 ms
    index lookup, 27 s of the database's CPU in a 60 s run. Planning each time costs tens of
    microseconds."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.commit()


@lru_cache
def get_engine() -> Engine:
    from server.settings import get_settings

    settings = get_settings()
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        return make_engine(url)
    return make_engine(url, pool_size=settings.database_pool_size, max_overflow=0)


def queued_changes(session: Session) -> list[PendingChange]:
    """The change-log rows the session's commit will write (what its savepoints kept so far)."""
    return list(session.info.get(_PENDING, []))


def record_changes(session: Session, changes: Iterable[PendingChange]) -> None:
    """Queue change-log rows for writes made outside the ORM (bulk Core inserts)."""
    session.info.setdefault(_PENDING, []).extend(changes)


def begin_write(session: Session) -> None:
    """Begin the session's transaction as a writer, before its first read.

    On SQLite, a transaction that read first and writes later fails at once ("database is
    locked", no waiting) when another writer committed in between: BEGIN IMMEDIATE takes the
    write lock first, so concurrent pushes wait their turn (busy timeout) instead of failing.
    PostgreSQL's row locks need nothing of the kind.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")


def advisory_lock(session: Session, key: int) -> None:
    """On PostgreSQL, a lock on `key` held until the session's transaction ends (nothing on
    SQLite, whose writers are one at a time anyway)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK, {"key": key})


def lock_change_log(session: Session) -> None:
    """Serialise with every other commit that writes the change log, until this one commits.

    Every such commit takes it as it commits (migration 0014). Taken earlier by a writer that
    must see no entry numbered meanwhile: a reassignment listing an account's records,
    compaction moving the horizon, a backup. SQLite's single writer gives the same for free.
    """
    advisory_lock(session, CHANGE_LOG_LOCK)


@lru_cache
def _cascades() -> dict[str, list[tuple[str, str]]]:
    """For each entity table, the entity tables whose rows the database deletes with it."""
    children: dict[str, list[tuple[str, str]]] = {}
    for name in ENTITIES:
        for fk in table_of(ENTITIES[name]).foreign_keys:
            parent = fk.column.table.name
            if fk.ondelete == "CASCADE" and parent in ENTITIES and parent != "account":
                children.setdefault(parent, []).append((name, fk.parent.name))
    return children


def _entity_name(obj: object) -> str | None:
    if isinstance(obj, Record):
        name: str = obj.__tablename__  # type: ignore[assignment]
        return name if name in ENTITIES else None
    return None


def _change_for(obj: Record, entity: str, op: str) -> PendingChange:
    if isinstance(obj, Account):
        return PendingChange(entity, obj.id, op, obj.id, obj.owner_id, owner_known=True)
    return PendingChange(entity, obj.id, op, getattr(obj, "account_id", None))


def _changed_fields(obj: object) -> list[str]:
    """The attributes of a loaded record whose value changed since it was loaded or flushed.

    Read from the attributes set since then (`committed_state`): the same answer as
    `Session.is_modified` for records without relationships, without visiting all their columns
    (this runs for every record of every push, twice)."""
    state = sa.inspect(obj)
    return [key for key in state.committed_state if state.attrs[key].history.has_changes()]


@event.listens_for(ServerSession, "before_flush")
def _bump_versions(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    now = utcnow()
    for obj in session.dirty:
        entity = _entity_name(obj)
        if entity and (changed := _changed_fields(obj)):
            if entity in FIELD_MERGED:
                changed = [name for name in changed if name not in _BOOKKEEPING]
                version = obj.version + 1
                device = session.info.get(DEVICE)
                session.info.setdefault(_FIELDS, {}).update(
                    {(entity, obj.id, name): (version, device) for name in changed}
                )
            obj.version += 1
            obj.updated_at = now
    # Rows the database deletes by cascade are deleted on devices too. (An account's delete
    # is a purge on devices, which removes everything under it.)
    connection = session.connection()
    for obj in session.deleted:
        entity = _entity_name(obj)
        for child, column in _cascades().get(entity or "", []):
            table = entity_table(child)
            rows = connection.execute(sa.select(table.c.id, table.c.account_id).where(table.c[column] == obj.id))
            record_changes(session, (PendingChange(child, row.id, "delete", row.account_id) for row in rows))


@event.listens_for(ServerSession, "do_orm_execute")
def _refuse_unlogged_bulk_writes(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and state.bind_mapper is not None:
        name = getattr(state.bind_mapper.local_table, "name", None)
        if name in ENTITIES:
            raise RuntimeError(
                f"bulk {'update' if state.is_update else 'delete'} of {name} would bypass the change log: "
                "change objects through the session, or write with Core and record_changes()"
            )


@event.listens_for(ServerSession, "after_flush")
def _collect_changes(session: Session, _ctx: UOWTransaction) -> None:
    pending = session.info.setdefault(_PENDING, [])
    for objs, op in ((session.new, "upsert"), (session.dirty, "upsert"), (session.deleted, "delete")):
        for obj in objs:
            entity = _entity_name(obj)
            if entity and (op != "upsert" or obj in session.new or _changed_fields(obj)):
                pending.append(_change_for(obj, entity, op))


_LOG_ENTRY = sa.insert(table_of(ChangeLog))


@event.listens_for(ServerSession, "before_commit")
def _write_change_log(session: Session) -> None:
    session.flush()
    if session.in_nested_transaction():
        # A savepoint's release: its changes wait for the transaction's own commit, so that the
        # change-log lock, which orders every writer, is held from there to the commit only,
        # not through a whole push. (`savepoint()` forgets them if the savepoint rolls back.)
        # Their audit events are made now, one push's mutation at a time, so that a long push
        # is audited record by record, as its mutations made them (and written at the commit).
        _audit_queued(session)
        return
    pending: list[PendingChange] = session.info.pop(_PENDING, [])
    fields: dict[tuple[str, str, str], tuple[int, str | None]] = session.info.pop(_FIELDS, {})
    audited: int = session.info.pop(_AUDITED, 0)
    events: list[dict[str, Any]] = session.info.pop(_EVENTS, [])
    if not pending and not fields:
        return
    now = utcnow()
    write_events(session, events + change_events(session, pending[audited:], now))
    if fields:
        _write_field_changes(session, fields)
    if not pending:
        return
    connection = session.connection()
    at_commit = _numbered_at_commit(connection)
    owners: dict[str, str | None] = {}
    if not at_commit:
        # SQLite's single writer holds its write lock from here to the commit. (PostgreSQL
        # without migration 0014, an upgrade under way: the lock, taken from here.)
        lock_change_log(session)
        wanted = {c.account_id for c in pending if c.account_id and not c.owner_known}
        for chunk in chunks(sorted(wanted)):
            owners.update(session.exec(select(Account.id, Account.owner_id).where(col(Account.id).in_(chunk))).all())
    rows: list[dict[str, Any]] = [
        {
            "entity": c.entity,
            "row_id": c.row_id,
            "op": c.op,
            "account_id": c.account_id,
            "owner_id": c.owner_id if c.owner_known else owners.get(c.account_id or ""),
            "changed_at": now,
        }
        for c in pending
    ]
    if at_commit:
        # Numbered as this transaction commits, under the lock, with the owners left out here
        # read there: the database moves them into the change log (migration 0014).
        for row, change in zip(rows, pending, strict=True):
            row["owner_known"] = change.owner_known
        connection.execute(_PENDING_ENTRY, rows)
    else:  # numbered in commit order by the lock (SQLite: the write lock) held to the commit
        connection.execute(_LOG_ENTRY, rows)


#: Where PostgreSQL's entries wait for their commit (migration 0014; not a model: no SQLite twin).
_PENDING_ENTRY = sa.insert(
    sa.table(
        "change_log_pending",
        *(sa.column(name) for name in ("entity", "row_id", "op", "account_id", "owner_id", "owner_known")),
        sa.column("changed_at", sa.DateTime(timezone=True)),
    )
)
#: Per engine: whether its database numbers the change log at commit (see `_numbered_at_commit`).
_AT_COMMIT: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()
_HAS_PENDING = sa.text("SELECT to_regclass('change_log_pending') IS NOT NULL")


def _numbered_at_commit(connection: sa.Connection) -> bool:
    """Whether the database numbers change-log entries at commit (PostgreSQL at migration 0014
    or later). Asked once per engine: a database migrated meanwhile keeps being written the
    older way, under the lock from the change log's write, which stays right."""
    if connection.dialect.name != "postgresql":
        return False
    known = _AT_COMMIT.get(connection.engine)
    if known is None:
        known = bool(connection.execute(_HAS_PENDING).scalar_one())
        _AT_COMMIT[connection.engine] = known
    return known


def _audit_queued(session: Session) -> None:
    """Make the audit events of the changes queued since the last call (written at the commit):
    at each savepoint's release, and at the end of each `step`."""
    pending: list[PendingChange] = session.info.get(_PENDING, [])
    audited: int = session.info.get(_AUDITED, 0)
    if len(pending) > audited:
        session.info.setdefault(_EVENTS, []).extend(change_events(session, pending[audited:], utcnow()))
        session.info[_AUDITED] = len(pending)


@lru_cache
def _field_change_upsert(dialect: str) -> Any:
    """Built once per dialect: a statement built anew costs more than running it (every push)."""
    table = table_of(FieldChange)
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.entity, table.c.row_id, table.c.field],
        set_={"version": statement.excluded.version, "device_id": statement.excluded.device_id},
    )


def _write_field_changes(session: Session, fields: dict[tuple[str, str, str], tuple[int, str | None]]) -> None:
    connection = session.connection()
    rows = [
        {"entity": e, "row_id": r, "field": f, "version": v, "device_id": d} for (e, r, f), (v, d) in fields.items()
    ]
    connection.execute(_field_change_upsert(connection.dialect.name), rows)


@event.listens_for(ServerSession, "after_soft_rollback")
def _forget_changes(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is not None:
        # A savepoint (`savepoint()` puts back what was queued before it), or a flush failing
        # inside one: the transaction goes on, with what was queued before.
        return
    session.info.pop(_PENDING, None)
    session.info.pop(_FIELDS, None)
    session.info.pop(_AUDITED, None)
    session.info.pop(_EVENTS, None)


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A savepoint whose rollback also forgets the change-log rows queued inside it."""
    session.flush()  # what came before the savepoint stays, whatever happens inside it
    queued = len(session.info.get(_PENDING, []))  # a long push queues many: no copy of them
    audited = session.info.get(_AUDITED, 0)
    events = len(session.info.get(_EVENTS, []))
    fields = dict(session.info.get(_FIELDS, {}))
    nested = session.begin_nested()
    try:
        yield
        nested.commit()
    except BaseException:
        nested.rollback()
        del session.info.setdefault(_PENDING, [])[queued:]
        session.info[_AUDITED] = audited
        del session.info.setdefault(_EVENTS, [])[events:]
        session.info[_FIELDS] = fields
        raise


#: How many values one statement's `IN (...)` is given at a time.
IN_LIST = 500


@contextmanager
def step(session: Session, *, isolated: bool) -> Iterator[None]:
    """One step of a larger write (a push's mutation), audited on its own, record by record.

    `isolated`: in a savepoint, whose rollback undoes this step alone. Otherwise a failure
    leaves the transaction to be rolled back whole (cheaper: no savepoint's round trips)."""
    if isolated:
        with savepoint(session):  # its release makes the step's audit events
            yield
        return
    yield
    session.flush()
    _audit_queued(session)


def chunks(items: list[str], size: int = IN_LIST) -> Iterator[list[str]]:
    """`items` in slices of `size`: what one statement's `IN (...)` takes at a time."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
