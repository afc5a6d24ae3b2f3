"""The device side of sync: sign in, then pull the user's scope into the local replica.

Each pulled page is applied in one local transaction; the cursor is stored only with the last
page of a pull, so a pull cut at any point starts again from the last complete one and
re-applies nothing wrongly (an upsert never replaces a newer version).
"""

from __future__ import annotations

import operator
import platform
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from app.ids import new_id, utcnow
from app.models import ENTITIES, UTCDateTime, entity_table, table_of
from sync.errors import (
    AuthError,
    CursorExpired,
    DeviceRevoked,
    RequestRejected,
    ServerError,
    SyncError,
    Throttled,
    TransportError,
    UpdateRequired,
)
from sync.state import OutboxEntry, SyncConflict, create_sync_tables, read_state, write_state
from sync.wire import SCHEMA_HEADER, SCHEMA_VERSION, PushResponse, TokenResponse, UserInfo

__all__ = ["PullProgress", "PullReport", "PushReport", "SyncEngine", "SyncReport", "TokenStore"]

#: Records per pulled page: the server's largest (it caps what is asked).
PAGE_SIZE = 5000
PUSH_BATCH = 200


class TokenStore:
    """Where the refresh token is kept between runs; the default keeps it in memory only."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    def load(self, key: str) -> str | None:
        return self._tokens.get(key)

    def save(self, key: str, token: str) -> None:
        self._tokens[key] = token

    def delete(self, key: str) -> None:
        self._tokens.pop(key, None)


@dataclass(frozen=True, slots=True)
class PushReport:
    applied: int = 0
    rejected: int = 0
    conflicts: int = 0


@dataclass(frozen=True, slots=True)
class PullReport:
    pages: int
    upserts: int
    deletes: int
    purges: int
    cursor: str


@dataclass(frozen=True, slots=True)
class PullProgress:
    """Where a pull is: pages and records applied, of `total` (None: the server did not say)."""

    pages: int
    records: int
    total: int | None


@dataclass(frozen=True, slots=True)
class SyncReport:
    pushed: PushReport
    pulled: PullReport


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _stored_time(value: str | None) -> str | None:
    """A wire time (ISO 8601 with its zone) in the text form the replica stores: SQLAlchemy's on
    SQLite, in UTC. Servers send `2026-11-22T10:00:00.000000Z`, which SQL converts by itself
    (see `_TIME_SQL`); this handles any other form."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"the server sent a time without its zone: {value!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


#: SQL for parameter N holding a wire time: the server's fixed form is cut into the stored one
#: by SQLite itself; anything else goes through `_stored_time`.
_TIME_SQL = (
    "CASE WHEN length(?{n}) = 27 AND substr(?{n}, 27) = 'Z' AND substr(?{n}, 11, 1) = 'T'"
    " THEN substr(?{n}, 1, 10) || ' ' || substr(?{n}, 12, 15) ELSE terrain_stored_time(?{n}) END"
)


def _stored_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _orm_converter(column: sa.Column[Any]) -> Callable[[Any], Any] | None:
    if isinstance(column.type, UTCDateTime):
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if isinstance(column.type, sa.Date):
        return lambda v: None if v is None else date.fromisoformat(v)
    return None


class _TableWriter:
    """Writes wire rows into one replica table; an older version never replaces a newer one.

    Pulled pages take the hot path (DESIGN.md, performance notes): rows become tuples with one
    C-level itemgetter, times are converted by SQLite, and the DB-API's executemany writes them,
    without a per-value trip through SQLAlchemy's types. Text, numbers, booleans and dates are
    stored as the wire carries them; JSON columns (a few on accounts and contacts) are dumped.
    """

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self.columns = [c.name for c in table.columns]
        self._getter = operator.itemgetter(*self.columns)
        # What a column an older server does not send gets: its default (a NOT NULL column added
        # since, like a visit's fixed_time or an order's discount), else nothing.
        self._missing = [
            c.default.arg if isinstance(c.default, sa.ColumnDefault) and c.default.is_scalar else None
            for c in table.columns
        ]
        self._json = [i for i, c in enumerate(table.columns) if isinstance(c.type, sa.JSON)]
        self._orm = [(c.name, conv) for c in table.columns if (conv := _orm_converter(c)) is not None]
        names = ", ".join(f'"{c}"' for c in self.columns)
        values = ", ".join(
            _TIME_SQL.format(n=n) if isinstance(c.type, UTCDateTime) else f"?{n}"
            for n, c in enumerate(table.columns, start=1)
        )
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in self.columns if c != "id")
        self.upsert_sql = (
            f'INSERT INTO "{table.name}" ({names}) VALUES ({values}) '
            f'ON CONFLICT ("id") DO UPDATE SET {updates} WHERE excluded."version" >= "{table.name}"."version"'
        )

    def values(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Wire (JSON) values of some columns as the ORM takes them."""
        out = {name: value for name, value in fields.items() if name in self.columns}
        for name, convert in self._orm:
            if name in out:
                out[name] = convert(out[name])
        return out

    def _rows_from_dicts(self, wire_rows: list[dict[str, Any]]) -> list[Any]:
        try:
            return list(map(self._getter, wire_rows))
        except KeyError:  # an older server that does not send some column: its default
            return [
                tuple(wire.get(name, missing) for name, missing in zip(self.columns, self._missing, strict=True))
                for wire in wire_rows
            ]

    def _rows_from_arrays(self, columns: list[str], rows: list[list[Any]]) -> list[Any]:
        if columns == self.columns:
            return rows  # the server's columns are the replica's: the decoded arrays go as they are
        where = {name: index for index, name in enumerate(columns)}
        picks = [where.get(name) for name in self.columns]  # a column the server lacks: its default
        return [
            [row[i] if i is not None else missing for i, missing in zip(picks, self._missing, strict=True)]
            for row in rows
        ]

    def _dump_json(self, rows: list[Any]) -> list[Any]:
        if not self._json:
            return rows
        out = []
        for row in rows:
            values = list(row)
            for index in self._json:
                values[index] = _stored_json(values[index])
            out.append(values)
        return out

    def write(self, conn: Connection, wire_rows: list[dict[str, Any]]) -> None:
        """Upsert rows given as dicts (one `Change` each)."""
        self._execute(conn, self._rows_from_dicts(wire_rows))

    def write_batch(self, conn: Connection, columns: list[str], rows: list[list[Any]]) -> None:
        """Upsert rows given as arrays of `columns` (an `UpsertBatch`)."""
        self._execute(conn, self._rows_from_arrays(columns, rows))

    def _execute(self, conn: Connection, rows: list[Any]) -> None:
        if "terrain_stored_time" not in conn.connection.info:
            # Once per connection: SQLite 3.51 (SQLCipher's) refuses to redefine a function while
            # FTS5 holds a statement open inside the transaction (after a write to the search index).
            dbapi = conn.connection.driver_connection
            dbapi.create_function("terrain_stored_time", 1, _stored_time, deterministic=True)  # type: ignore[union-attr]
            conn.connection.info["terrain_stored_time"] = True
        cursor = conn.connection.cursor()  # the DB-API's, inside this connection's transaction
        try:
            cursor.executemany(self.upsert_sql, self._dump_json(rows))
        except (sqlite3.Error, conn.dialect.loaded_dbapi.Error) as exc:  # a time without zone (SQLCipher's too)
            raise SyncError(
                f"the server sent a {self.table.name} this app cannot store ({exc}): update the app"
            ) from exc
        finally:
            cursor.close()


_WRITERS = {name: _TableWriter(entity_table(name)) for name in ENTITIES}


def _purge_account(conn: Connection, account_id: str) -> None:
    for name in reversed(list(ENTITIES)):
        table = entity_table(name)
        if name == "account":
            conn.execute(sa.delete(table).where(table.c.id == account_id))
        elif "account_id" in table.c:
            conn.execute(sa.delete(table).where(table.c.account_id == account_id))


def _waiting_ids(conn: Connection) -> set[str]:
    """Records with edits in the outbox not yet sent (usually none, or a few)."""
    outbox = table_of(OutboxEntry)
    return set(conn.execute(sa.select(outbox.c.record_id).where(outbox.c.status == "pending")).scalars())


def _reapply_pending(conn: Connection, touched: set[str]) -> None:
    """Put the rep's unsent edits back on top of rows the server just sent: shown until pushed."""
    if not touched:
        return
    outbox = table_of(OutboxEntry)
    pending = conn.execute(
        sa.select(outbox.c.entity, outbox.c.record_id, outbox.c.op, outbox.c.fields)
        .where(outbox.c.status == "pending", outbox.c.record_id.in_(touched))
        .order_by(outbox.c.mid)
    ).all()
    for entity, record_id, op, fields in pending:
        writer = _WRITERS.get(entity)
        if writer and op == "delete":  # deleted here, not yet on the server: it stays deleted
            conn.execute(sa.delete(writer.table).where(writer.table.c.id == record_id))
            continue
        values = writer.values(fields) if writer else {}
        values.pop("id", None)
        if writer and values:
            conn.execute(sa.update(writer.table).where(writer.table.c.id == record_id).values(**values))


#: Error codes of a server that cut this device off: it wipes itself.
CUT_OFF = frozenset({"device_revoked", "user_inactive"})


class SyncEngine:
    """Signs a device in and keeps its replica in step with the server."""

    def __init__(self, *, replica: Engine, http: httpx.Client, token_store: TokenStore | None = None) -> None:
        self.replica = replica
        self.http = http
        self.token_store = token_store or TokenStore()
        self._access_token: str | None = None
        create_sync_tables(replica)
        with Session(replica) as session:
            if not read_state(session).get("device_id"):
                write_state(session, device_id=new_id())
                session.commit()

    # -- state --------------------------------------------------------------------------
    def state(self) -> dict[str, str | None]:
        with Session(self.replica) as session:
            return read_state(session)

    def _set_state(self, **values: str | None) -> None:
        with Session(self.replica) as session:
            write_state(session, **values)
            session.commit()

    def _token_key(self) -> str:
        state = self.state()
        return f"{state.get('server_url')}|{state.get('username')}"

    # -- HTTP ----------------------------------------------------------------------------
    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        # Every request names this app's schema: the server refuses one outside its window.
        headers = {SCHEMA_HEADER: str(SCHEMA_VERSION), **kwargs.pop("headers", {})}
        try:
            response = self.http.request(method, url, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransportError(f"the server at {self.http.base_url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot reach the server at {self.http.base_url}: {exc}") from exc
        if response.status_code >= 500:
            raise ServerError(f"the server failed ({response.status_code}): try again later")
        if response.status_code == 426:
            raise UpdateRequired(
                f"update the app: the server no longer accepts this version ({self._detail(response)})"
            )
        return response

    @staticmethod
    def _code(response: httpx.Response) -> str | None:
        """The server's error code, telling the app what to do beyond showing the detail."""
        try:
            body = response.json()
        except ValueError:
            return None
        code = body.get("code") if isinstance(body, dict) else None
        return code if isinstance(code, str) else None

    def _check_cut_off(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403) and self._code(response) in CUT_OFF:
            raise DeviceRevoked(self._detail(response))

    @staticmethod
    def _detail(response: httpx.Response) -> str:
        try:
            detail = response.json().get("detail")
        except ValueError:
            return response.text[:200]
        return detail if isinstance(detail, str) else orjson.dumps(detail).decode()[:500]

    # -- sign-in -------------------------------------------------------------------------
    def sign_in(self, *, username: str, password: str) -> UserInfo:
        try:
            return self._sign_in(username, password)
        except DeviceRevoked:
            # This device id was revoked (and the device wiped, or being found again): start
            # afresh under a new id, as a new device the user may sign in with.
            self.wipe()
            return self._sign_in(username, password)

    def _sign_in(self, username: str, password: str) -> UserInfo:
        state = self.state()
        response = self._request(
            "POST",
            "/api/v1/auth/token",
            data={
                "grant_type": "password",
                "username": username,
                "password": password,
                "device_id": state["device_id"],
                "device_name": platform.node()[:120],
                "platform": platform.system().lower()[:40],
            },
        )
        self._check_cut_off(response)
        if response.status_code == 429:
            raise Throttled(self._detail(response))
        if response.status_code == 401:
            raise AuthError(self._detail(response))
        if response.status_code != 200:
            raise RequestRejected(self._detail(response))
        tokens = TokenResponse.model_validate(response.json())
        server_url = str(self.http.base_url).rstrip("/")
        if state.get("user_id") not in (None, tokens.user.id) or state.get("server_url") not in (None, server_url):
            # Another user or another server: the old replica is not theirs to see.
            self.reset_replica()
        self._set_state(
            server_url=server_url,
            user_id=tokens.user.id,
            username=tokens.user.username,
            full_name=tokens.user.full_name,
            role=tokens.user.role,
            device_number=str(tokens.device_number) if tokens.device_number is not None else None,
        )
        self._keep_targets(tokens.user)
        self._access_token = tokens.access_token
        self.token_store.save(self._token_key(), tokens.refresh_token)
        return tokens.user

    def server_answers(self) -> bool:
        """A cheap check that the server is reachable and healthy (no sign-in needed)."""
        try:
            return self.http.get("/healthz", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def has_session(self) -> bool:
        """Whether a refresh token is at hand, so that a sync needs no password."""
        return self.token_store.load(self._token_key()) is not None

    def _refresh(self) -> None:
        refresh_token = self.token_store.load(self._token_key())
        if not refresh_token:
            raise AuthError("sign in first")
        response = self._request(
            "POST", "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        if response.status_code == 401:
            self.token_store.delete(self._token_key())  # spent or revoked: only a password helps now
            self._check_cut_off(response)
            raise AuthError(self._detail(response))
        if response.status_code != 200:
            raise RequestRejected(self._detail(response))
        tokens = TokenResponse.model_validate(response.json())
        self._access_token = tokens.access_token
        self.token_store.save(self._token_key(), tokens.refresh_token)
        self._keep_targets(tokens.user)
        if tokens.device_number is not None and self.state().get("device_number") is None:
            self._set_state(device_number=str(tokens.device_number))  # numbered since it signed in

    def _keep_targets(self, user: UserInfo) -> None:
        """The monthly targets, as the server has them now (they may change between sign-ins)."""
        self._set_state(
            monthly_revenue_target_amount=_text(user.monthly_revenue_target_amount),
            monthly_order_target=_text(user.monthly_order_target),
            target_currency=user.target_currency,
            quote_approval_discount_bp=_text(user.quote_approval_discount_bp),
        )

    def _authorized(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self._access_token is None:
            self._refresh()
        response = self._request(method, url, headers={"Authorization": f"Bearer {self._access_token}"}, **kwargs)
        if response.status_code == 401:
            self._check_cut_off(response)
            self._refresh()
            response = self._request(method, url, headers={"Authorization": f"Bearer {self._access_token}"}, **kwargs)
            if response.status_code == 401:
                self._check_cut_off(response)
                raise AuthError(self._detail(response))
        return response

    def call(self, method: str, url: str, *, json: Any = None, params: dict[str, str] | None = None) -> Any:
        """An API request outside sync (a manager's decisions), signed in as the device's user: its
        JSON answer; RequestRejected with the server's reason for a 4xx. A device cut off wipes
        itself and raises DeviceRevoked."""
        try:
            response = self._authorized(method, url, json=json, params=params)
        except DeviceRevoked as exc:
            self._wipe_after(exc)
            raise
        if response.status_code >= 400:
            raise RequestRejected(self._detail(response))
        return response.json()

    # -- push ----------------------------------------------------------------------------
    def next_push(self, batch_size: int = PUSH_BATCH) -> dict[str, Any]:
        """The next push request: the oldest pending outbox entries, in the order they were made."""
        with Session(self.replica) as session:
            entries = session.exec(
                select(OutboxEntry)
                .where(OutboxEntry.status == "pending")
                .order_by(col(OutboxEntry.mid))
                .limit(batch_size)
            ).all()
        state = self.state()
        cursor = state.get("cursor")
        return {
            "client_id": state["device_id"],
            "schema_version": SCHEMA_VERSION,
            "pulled_through": int(cursor) if cursor and cursor.isdigit() else None,
            "mutations": [
                {
                    "mid": e.mid,
                    "entity": e.entity,
                    "id": e.record_id,
                    "op": e.op,
                    "base_version": e.base_version,
                    "fields": e.fields,
                }
                for e in entries
            ],
        }

    def push(self, *, batch_size: int = PUSH_BATCH) -> PushReport:
        """Send the outbox in order; only the server's answer takes an entry out of it."""
        applied = rejected = conflicts = 0
        while True:
            body = self.next_push(batch_size)
            if not body["mutations"]:
                break
            response = self._authorized("POST", "/api/v1/sync/push", json=body)
            if response.status_code != 200:
                raise RequestRejected(self._detail(response))
            try:
                results = PushResponse.model_validate(response.json()).results
            except ValueError as exc:
                raise SyncError("the server's answer to a push cannot be read: update the app") from exc
            answered = 0
            with Session(self.replica) as session:
                for result in results:
                    entry = session.get(OutboxEntry, result.mid)
                    if entry is None or entry.status != "pending":
                        continue
                    answered += 1
                    if result.status == "rejected":
                        entry.status, entry.reason = "rejected", result.reason
                        rejected += 1
                        if result.row is not None and entry.entity in _WRITERS:
                            # Show the server's record again; the refused change waits in the outbox.
                            session.flush()  # this entry is no longer pending
                            conn = session.connection()
                            _WRITERS[entry.entity].write(conn, [result.row])
                            _reapply_pending(conn, {entry.record_id})
                        continue
                    for conflict in result.conflicts:
                        session.add(
                            SyncConflict(
                                entity=entry.entity,
                                record_id=entry.record_id,
                                field=conflict.field,
                                server_value=conflict.server_value,
                                device_value=conflict.device_value,
                            )
                        )
                    conflicts += len(result.conflicts)
                    applied += result.status == "applied"
                    session.delete(entry)
                session.commit()
            if answered == 0:  # never loop on a server that acknowledges nothing
                raise SyncError("the server answered none of the changes sent: try again later")
        return PushReport(applied, rejected, conflicts)

    # -- pull ----------------------------------------------------------------------------
    def _fetch_page(self, cursor: str | None, page_size: int) -> httpx.Response:
        params: dict[str, Any] = {"limit": page_size}
        if cursor:
            params["cursor"] = cursor
        return self._authorized("GET", "/api/v1/sync/pull", params=params)

    def pull(self, *, on_page: Callable[[PullProgress], None] | None = None, page_size: int = PAGE_SIZE) -> PullReport:
        """Pull until the server has nothing more; `on_page` hears after each applied page.

        The next page is fetched while this one is applied: the server and the network work
        while the replica writes. Pages are still applied one by one, in order.
        """
        cursor = self.state().get("cursor")
        pages = upserts = deletes = purges = 0
        total: int | None = None
        fetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="terrain-pull")
        try:
            upcoming = fetcher.submit(self._fetch_page, cursor, page_size)
            while True:
                response = upcoming.result()
                if response.status_code == 410:
                    if cursor is None:
                        raise CursorExpired("the server refused a fresh pull: contact your administrator")
                    # Offline for longer than the server keeps changes: start afresh, keeping the outbox.
                    self.reset_replica(keep_identity=True)
                    cursor, total = None, None
                    pages = upserts = deletes = purges = 0
                    upcoming = fetcher.submit(self._fetch_page, cursor, page_size)
                    continue
                if response.status_code != 200:
                    raise RequestRejected(self._detail(response))
                try:
                    page = orjson.loads(response.content)
                    changes, cursor, has_more = page["changes"], page["cursor"], page["has_more"]
                    total = page.get("total", total)
                except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                    raise SyncError("the server sent a page this app cannot read: update the app") from exc
                if has_more:
                    upcoming = fetcher.submit(self._fetch_page, cursor, page_size)
                counts = self._apply_page(changes, cursor if not has_more else None)
                pages += 1
                upserts, deletes, purges = upserts + counts[0], deletes + counts[1], purges + counts[2]
                if on_page:
                    on_page(PullProgress(pages, upserts + deletes + purges, total))
                if not has_more:
                    return PullReport(pages, upserts, deletes, purges, cursor)
        finally:
            fetcher.shutdown(wait=False, cancel_futures=True)

    def _apply_page(self, changes: list[dict[str, Any]], final_cursor: str | None) -> tuple[int, int, int]:
        upserts = deletes = purges = 0
        with self.replica.begin() as conn:
            waiting = _waiting_ids(conn)
            touched: set[str] = set()  # records of this page with unsent edits
            batch: list[dict[str, Any]] = []
            batch_entity: str | None = None

            def flush() -> None:
                if batch and batch_entity:
                    _WRITERS[batch_entity].write(conn, batch)
                batch.clear()

            for change in changes:
                entity, op = change["entity"], change["op"]
                if entity not in _WRITERS:
                    continue  # an entity this version of the app does not know yet
                if op == "upsert" and "rows" in change:
                    flush()
                    columns, rows = change["columns"], change["rows"]
                    _WRITERS[entity].write_batch(conn, columns, rows)
                    if waiting:
                        id_index = columns.index("id")
                        touched.update(waiting.intersection(row[id_index] for row in rows))
                    upserts += len(rows)
                    continue
                if op == "upsert":
                    if entity != batch_entity:
                        flush()
                        batch_entity = entity
                    batch.append(change["row"])
                    if change["id"] in waiting:
                        touched.add(change["id"])
                    upserts += 1
                    continue
                flush()
                if op == "purge" or (op == "delete" and entity == "account"):
                    _purge_account(conn, change["id"])
                    purges += 1
                elif op == "delete":
                    table = entity_table(entity)
                    conn.execute(sa.delete(table).where(table.c.id == change["id"]))
                    deletes += 1
            flush()
            _reapply_pending(conn, touched)
            if final_cursor is not None:
                with Session(bind=conn) as session:
                    write_state(session, cursor=final_cursor, last_pull_at=utcnow().isoformat())
                    session.commit()
        return upserts, deletes, purges

    # -- the whole sync ------------------------------------------------------------------
    def sync(self, *, on_page: Callable[[PullProgress], None] | None = None) -> SyncReport:
        """Push the outbox, then pull, recording the outcome for the status screen."""
        try:
            pushed = self.push()
            report = SyncReport(pushed, self.pull(on_page=on_page))
        except DeviceRevoked as exc:
            # The push just made was the outbox's last attempt: the server refused it.
            self._wipe_after(exc)
            raise
        except SyncError as exc:
            self._set_state(last_error=str(exc), last_error_kind=type(exc).__name__, last_error_at=utcnow().isoformat())
            raise
        self._set_state(last_sync_at=utcnow().isoformat(), last_error=None, last_error_kind=None, last_error_at=None)
        return report

    def reset_replica(self, *, keep_identity: bool = False) -> None:
        """Forget every record and the cursor (never the device id nor the outbox): the next pull
        starts afresh. Without `keep_identity`, forget who signed in too."""
        with self.replica.begin() as conn:
            for name in reversed(list(ENTITIES)):
                conn.execute(sa.delete(entity_table(name)))
            with Session(bind=conn) as session:
                write_state(session, cursor=None)
                if not keep_identity:
                    write_state(session, last_sync_at=None, user_id=None, username=None)
                session.commit()

    def wipe(self) -> None:
        """Erase everything this device holds: every record, the outbox, the conflicts, the
        state (a new device id is drawn) and the stored session. The file is rewritten
        (VACUUM, then the write-ahead log emptied), so no erased page stays readable in it."""
        self.token_store.delete(self._token_key())
        self._access_token = None
        with self.replica.begin() as conn:
            names = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name NOT LIKE 'search_index_%'"  # FTS5's own tables, emptied through search_index
            ).scalars()
            for name in list(names):
                conn.exec_driver_sql(f'DELETE FROM "{name}"')
                if name == "search_index":  # its deleted terms linger in the index until rebuilt
                    conn.exec_driver_sql("INSERT INTO search_index(search_index) VALUES ('rebuild')")
            with Session(bind=conn) as session:
                write_state(session, device_id=new_id())
                session.commit()
        with self.replica.connect() as conn:
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def _wipe_after(self, exc: DeviceRevoked) -> None:
        """Wipe, keeping only why, for the sign-in screen to say."""
        self.wipe()
        self._set_state(last_error=str(exc), last_error_kind=type(exc).__name__, last_error_at=utcnow().isoformat())

    def sign_out(self) -> None:
        """End the session on the server (when it answers) and forget it here; the replica stays."""
        if self.token_store.load(self._token_key()) is not None:
            try:
                self._authorized("POST", "/api/v1/auth/logout")
            except SyncError:
                pass  # offline or already ended: forgetting the token here is what matters
        self.token_store.delete(self._token_key())
        self._access_token = None
