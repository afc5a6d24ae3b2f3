"""Upgrades: a server takes apps of its sync schema and the two before it, tells older ones to
update and newer ones that the server must be updated first; the window is safe because each
schema change is additive for two versions (sync/wire.py: SCHEMA_VERSION); and the database is
migrated while reps sync, the servers of the release before still serving it.

The app's version is changed only where it leaves the device (`sync.engine.SCHEMA_VERSION`, the
header and the push body) or in raw requests; the server's window is its own.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

import server.deps
import sync.engine
from app.edits import create_record, edit_account, log_activity, pending_changes
from app.i18n import Translator
from app.models import Account, Activity, Visit
from app.mutations import CREATES, MERGED, VERSIONED
from app.replica import open_replica
from server.db import ServerSession, make_engine
from server.main import create_app
from server.migrate import current_revision, head_revision, upgrade
from server.models import ProcessedMutation, User
from sync.engine import SyncEngine
from sync.errors import UpdateRequired
from sync.loop import SyncLoop, SyncSchedule
from sync.state import OutboxEntry
from sync.wire import OLDEST_CLIENT_SCHEMA, SCHEMA_HEADER, SCHEMA_VERSION
from tests.conftest import LiveServer, settings_for, sign_in, start_live_server, wait_for
from tests.integration.conftest import push_mutations

#: Version handling is the same on both databases: these tests run on SQLite.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
PULL = "/api/v1/sync/pull"
PUSH = "/api/v1/sync/push"


def _server(api: httpx.Client) -> Engine:
    return api.app.state.engine  # type: ignore[attr-defined,no-any-return]


def _owner_id(engine: Engine, username: str) -> str:
    with Session(engine) as session:
        return session.exec(select(User.id).where(User.username == username)).one()


def _accounts_of(engine: Engine, username: str, count: int = 1) -> list[Account]:
    owner = _owner_id(engine, username)
    with Session(engine) as session:
        return list(session.exec(select(Account).where(Account.owner_id == owner).order_by(Account.name).limit(count)))


def _outbox(device: SyncEngine) -> list[OutboxEntry]:
    with Session(device.replica) as session:
        return list(session.exec(select(OutboxEntry).where(OutboxEntry.status == "pending")))


def _raw_push(device_id: str, version: int, **extra: Any) -> dict[str, Any]:
    return {"client_id": device_id, "schema_version": version, "mutations": [], **extra}


# -- the window ------------------------------------------------------------------------------


def test_the_window_is_this_schema_and_the_two_before() -> None:
    assert OLDEST_CLIENT_SCHEMA == SCHEMA_VERSION - 2


@sqlite_only
def test_apps_of_this_schema_and_the_two_before_push_and_pull(
    api: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, str | None]] = []
    api.event_hooks["request"].append(lambda r: sent.append((r.url.path, r.headers.get(SCHEMA_HEADER))))
    account = _accounts_of(_server(api), "alice")[0]
    device = SyncEngine(replica=open_replica(tmp_path / "alice"), http=api)
    try:
        for version in (SCHEMA_VERSION - 2, SCHEMA_VERSION - 1, SCHEMA_VERSION):
            monkeypatch.setattr(sync.engine, "SCHEMA_VERSION", version)  # the app's, as it leaves the device
            sent.clear()
            if version == SCHEMA_VERSION - 2:
                device.sign_in(username="alice", password="demo")
                assert device.pull().upserts > 100  # the whole scope
            with Session(device.replica) as session:
                edit_account(session=session, account_id=account.id, changes={"notes": f"schéma {version}"})
            report = device.sync()
            assert (report.pushed.applied, report.pushed.rejected) == (1, 0)
            assert report.pulled.upserts >= 1  # its own edit, back from the server
            assert {path for path, _ in sent} >= {PUSH, PULL}
            assert {header for _, header in sent} == {str(version)}  # every request names it
            with ServerSession(_server(api)) as session:
                stored = session.get(Account, account.id)
                assert stored is not None and stored.notes == f"schéma {version}"
        assert device.state().get("last_error") is None
    finally:
        device.replica.dispose()


@sqlite_only
def test_an_app_older_than_the_window_is_told_to_update_on_push_and_pull(api: TestClient) -> None:
    device_id = str(uuid.uuid4())
    auth = sign_in(api, "alice", device_id=device_id)
    too_old = SCHEMA_VERSION - 3
    expected = (
        "this version of the app is too old for the server: please update it"
        f" (app schema {too_old}, server accepts {SCHEMA_VERSION - 2}..{SCHEMA_VERSION})"
    )
    answers = [
        api.get(PULL, headers={**auth, SCHEMA_HEADER: str(too_old)}),
        api.post(PUSH, json=_raw_push(device_id, too_old), headers=auth),  # the body's version
        api.post(PUSH, json=_raw_push(device_id, too_old), headers={**auth, SCHEMA_HEADER: str(too_old)}),
        api.post(PUSH, json=_raw_push(device_id, SCHEMA_VERSION), headers={**auth, SCHEMA_HEADER: str(too_old)}),
    ]
    for answer in answers:
        assert answer.status_code == 426, answer.text
        assert answer.json() == {"detail": expected, "code": "client_too_old"}
    # The oldest taken, and an app from before the header (schema 1): served.
    assert api.get(PULL, headers={**auth, SCHEMA_HEADER: str(SCHEMA_VERSION - 2)}).status_code == 200
    assert api.get(PULL, headers=auth).status_code == 200
    assert api.post(PUSH, json=_raw_push(device_id, SCHEMA_VERSION), headers=auth).status_code == 200
    assert api.get(PULL, headers={**auth, SCHEMA_HEADER: "one"}).status_code == 422


@sqlite_only
def test_an_app_newer_than_the_server_is_told_the_server_must_be_updated_first(api: TestClient) -> None:
    device_id = str(uuid.uuid4())
    auth = sign_in(api, "alice", device_id=device_id)
    newer = SCHEMA_VERSION + 1
    answers = [
        api.get(PULL, headers={**auth, SCHEMA_HEADER: str(newer)}),
        api.post(PUSH, json=_raw_push(device_id, newer), headers=auth),
        api.post(PUSH, json=_raw_push(device_id, newer), headers={**auth, SCHEMA_HEADER: str(newer)}),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "server_too_old"
        assert answer.json()["detail"] == (
            "this version of the app is newer than the server: the server must be updated first"
            f" (app schema {newer}, server accepts {SCHEMA_VERSION - 2}..{SCHEMA_VERSION})"
        )
    described = api.get("/openapi.json").json()["paths"][PULL]["get"]["parameters"]
    assert SCHEMA_HEADER in [p["name"] for p in described if p["in"] == "header"]


@pytest.fixture
def raised_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server of a release that dropped this app: it takes only a schema above this one."""
    monkeypatch.setattr(server.deps, "SCHEMA_VERSION", SCHEMA_VERSION + 3)
    monkeypatch.setattr(server.deps, "OLDEST_CLIENT_SCHEMA", SCHEMA_VERSION + 1)


@sqlite_only
def test_a_device_the_server_no_longer_takes_says_update_and_keeps_its_outbox(
    alice: SyncEngine, api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = _accounts_of(_server(api), "alice")[0]
    with Session(alice.replica) as session:
        edit_account(session=session, account_id=account.id, changes={"notes": "en attente de la mise à jour"})
    monkeypatch.setattr(server.deps, "SCHEMA_VERSION", SCHEMA_VERSION + 3)
    monkeypatch.setattr(server.deps, "OLDEST_CLIENT_SCHEMA", SCHEMA_VERSION + 1)
    with pytest.raises(UpdateRequired, match="update the app: the server no longer accepts this version"):
        alice.sync()
    with pytest.raises(UpdateRequired):
        alice.pull()
    assert [e.record_id for e in _outbox(alice)] == [account.id]  # kept, still pending
    state = alice.state()
    assert state["last_error_kind"] == "UpdateRequired" and "please update it" in (state["last_error"] or "")
    assert Translator("fr")("sync.update_required") == (
        "Mettez à jour l'application : le serveur n'accepte plus cette version."
    )
    assert Translator("en")("sync.update_required") == "Update the app: the server no longer accepts this version."
    with ServerSession(_server(api)) as session:
        stored = session.get(Account, account.id)
        assert stored is not None and stored.notes != "en attente de la mise à jour"
    monkeypatch.undo()  # the app was updated (or the server's minimum lowered again)
    report = alice.sync()
    assert report.pushed.applied == 1 and _outbox(alice) == []
    assert alice.state().get("last_error_kind") is None


def test_the_sync_loop_does_not_retry_a_refused_version_soon() -> None:
    calls: list[float] = []

    async def refused() -> bool | None:
        calls.append(asyncio.get_running_loop().time())
        raise UpdateRequired("update the app")

    async def probe() -> bool:
        raise AssertionError("no probing: the server answered")

    async def scenario() -> SyncSchedule:
        schedule = SyncSchedule(debounce=0.01, base_backoff=0.01, update_retry=3600)
        loop = SyncLoop(sync_once=refused, probe=probe, schedule=schedule)
        runner = asyncio.create_task(loop.run())
        for _ in range(20):  # the rep keeps working: local writes do not wake a refused sync
            await asyncio.sleep(0.02)
            loop.poke()
        assert len(calls) == 1 and schedule.needs_update
        loop.sync_now()  # the rep asks: tried again at once
        await asyncio.sleep(0.05)
        loop.stop()
        await runner
        return schedule

    schedule = asyncio.run(scenario())
    assert len(calls) == 2 and schedule.next_at >= calls[-1] + 3600


@sqlite_only
def test_terrain_sync_says_update_and_exits_non_zero(
    live_server: LiveServer, tmp_path: Path, raised_minimum: None
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "--data-dir", str(tmp_path / "device"), "sync"]
        + ["--server", live_server.url, "--user", "alice", "--password-stdin"],
        input="demo\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "sync failed: update the app: the server no longer accepts this version" in done.stderr


# -- what makes the window safe: additive changes ---------------------------------------------


class _NewerServer(httpx.BaseTransport):
    """The real API, its pull pages rewritten as a newer server would send them: each account
    with a column this app does not know, records of an entity it does not know, and a key of
    the page it does not know."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.extra_rows = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path != PULL or response.status_code != 200:
            return response
        page = orjson.loads(response.read())
        for change in page["changes"]:
            if change["entity"] != "account" or change["op"] != "upsert":
                continue
            if "rows" in change:
                change["columns"].append("loyalty_tier")
                for row in change["rows"]:
                    row.append("gold")
                self.extra_rows += len(change["rows"])
            else:
                change["row"]["loyalty_tier"] = "gold"
                self.extra_rows += 1
        page["server_release"] = "next"  # a key of the page this app does not know
        seq = page["changes"][0]["seq"] if page["changes"] else 0
        page["changes"].append(
            {"seq": seq, "entity": "loyalty_program", "op": "upsert", "id": "p1", "version": 1, "row": {"id": "p1"}}
        )
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-encoding")}
        return httpx.Response(200, headers=headers, content=orjson.dumps(page))


@sqlite_only
def test_a_pulled_row_with_a_column_this_app_does_not_know_is_applied_without_it(
    api: TestClient, tmp_path: Path
) -> None:
    newer = _NewerServer(api._transport)
    http = httpx.Client(base_url=api.base_url, transport=newer)
    device = SyncEngine(replica=open_replica(tmp_path / "alice"), http=http)
    try:
        device.sign_in(username="alice", password="demo")
        device.sync()  # a first pull: pages of arrays, the extra column among the names
        first = newer.extra_rows
        owner = _owner_id(_server(api), "alice")
        with Session(_server(api)) as session:
            scope = session.exec(select(func.count()).select_from(Account).where(Account.owner_id == owner)).one()
        with Session(device.replica) as session:
            assert session.exec(select(func.count()).select_from(Account)).one() == scope == first
        account = _accounts_of(_server(api), "alice")[0]
        with ServerSession(_server(api)) as session:  # changed at the office
            stored = session.get(Account, account.id)
            assert stored is not None
            stored.notes = "vu au salon"
            session.commit()
        device.sync()  # a later pull: one record, a dict with the extra key
        assert newer.extra_rows == first + 1
        with Session(device.replica) as session:
            local = session.get(Account, account.id)
            assert local is not None and local.notes == "vu au salon"
        with device.replica.connect() as conn:
            assert "loyalty_tier" not in {c["name"] for c in sa.inspect(conn).get_columns("account")}
        assert device.state().get("last_error") is None
    finally:
        http.close()
        device.replica.dispose()


@sqlite_only
def test_a_push_from_an_older_app_without_a_newer_field_gets_its_default(alice: SyncEngine, api: TestClient) -> None:
    account = _accounts_of(_server(api), "alice")[0]
    visit_id = str(uuid.uuid4())
    # `fixed_time` came with migration 0005: an app from before does not send it.
    results = push_mutations(
        api,
        alice,
        {
            "mid": 1,
            "entity": "visit",
            "id": visit_id,
            "op": "create",
            "fields": {
                "account_id": account.id,
                "starts_at": "2026-11-24T09:00:00+01:00",
                "ends_at": "2026-11-24T10:00:00+01:00",
            },
        },
    )
    assert [r["status"] for r in results] == ["applied"], results
    with ServerSession(_server(api)) as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None and visit.fixed_time is False and visit.purpose is None


#: What a device must send to create each record: a field made required later would refuse
#: the changes of apps that do not know it yet. New fields get a default (sync/wire.py).
REQUIRED_TO_CREATE = {
    "account": ["name"],
    "contact": ["account_id", "last_name"],
    "activity": ["account_id", "occurred_at"],
    "visit": ["account_id", "ends_at", "starts_at"],
    "reminder": ["account_id", "due_at", "reason"],
    "ticket": ["account_id", "opened_at", "subject"],
    "quote": ["account_id", "lines", "provisional_number"],
    "order": ["account_id", "expected_gross_amount", "lines", "ordered_at"],
    "campaign": ["name"],
    "opportunity": ["account_id", "name"],
    "email_message": ["account_id", "body", "subject", "to_address"],
}


def test_no_field_an_older_app_does_not_send_is_required() -> None:
    required = {
        name: sorted(n for n, f in schema.model_fields.items() if f.is_required())
        for name, (_table, schema) in CREATES.items()
    }
    assert required == REQUIRED_TO_CREATE, "a new field must have a default for two schema versions"
    for name, (_table, schema) in {**MERGED, **VERSIONED}.items():
        assert not [n for n, f in schema.model_fields.items() if f.is_required()], name


# -- readiness against a database migrated by another release ----------------------------------


def _set_revision(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision})


def test_ready_when_the_database_is_ahead_not_when_behind_or_unknown(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'server.db'}")
    head = head_revision()
    assert head is not None
    try:
        upgrade(engine)
        with TestClient(create_app(engine=engine, settings=settings_for(tmp_path))) as api:
            assert api.get("/readyz").json() == {"status": "ready", "schema_version": head}
            newer = f"{int(head) + 1:04d}"
            _set_revision(engine, newer)  # a newer server migrated it (expand-only)
            ahead = api.get("/readyz")
            assert ahead.status_code == 200
            assert ahead.json() == {
                "status": "ready",
                "schema_version": newer,
                "note": "database is newer than this server",
            }
            upgrade(engine)  # this server restarting (serve migrates first): nothing to do, no error
            assert current_revision(engine) == newer
            for garbage in ("garbage", "0000"):
                _set_revision(engine, garbage)
                unknown = api.get("/readyz")
                assert unknown.status_code == 503 and unknown.json()["code"] == "schema_unknown"
            _set_revision(engine, f"{int(head) - 1:04d}")
            assert api.get("/readyz").json()["code"] == "schema_behind"
    finally:
        engine.dispose()


# -- migrating with reps online ---------------------------------------------------------------

#: How long the next release's index build lasts: the rep syncs meanwhile.
BUILD_SECONDS = 1.5
NEXT_RELEASE = '''"""next release (test only): a loyalty tier on accounts

Revision ID: {revision}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Expand-only: nullable, so this release's servers keep inserting accounts without it.
    op.add_column("account", sa.Column("loyalty_tier", sa.String(20), nullable=True))
    # Built without locking writes out: outside any transaction.
    with op.get_context().autocommit_block():
        op.execute("SELECT pg_sleep({build_seconds})")  # as long as a build on a large table
        op.create_index("ix_account_loyalty_tier", "account", ["loyalty_tier"], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_account_loyalty_tier", "account", postgresql_concurrently=True)
    op.drop_column("account", "loyalty_tier")
'''


def _next_release_migrations(tmp_path: Path) -> tuple[Path, str]:
    """A copy of this server's migrations with the next release's revision added."""
    copy = tmp_path / "next-release-migrations"
    shutil.copytree(
        Path(__file__).parents[2] / "server" / "migrations", copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    head = head_revision()
    assert head is not None
    revision = f"{int(head) + 1:04d}"
    (copy / "versions" / f"{revision}_loyalty_tier.py").write_text(
        NEXT_RELEASE.format(revision=revision, down=head, build_seconds=BUILD_SECONDS)
    )
    return copy, revision


class _Rep(threading.Thread):
    """A rep's device syncing in a loop: each round, a note on one of two accounts, a call
    logged and a new prospect (an account: a table the migration changes), then a sync."""

    def __init__(self, device: SyncEngine, accounts: list[str]) -> None:
        super().__init__(daemon=True)
        self.device, self.accounts = device, accounts
        self.stop = threading.Event()
        self.rounds = 0
        self.errors: list[BaseException] = []
        self.applied = self.rejected = self.conflicts = 0
        self.last_notes: dict[str, str] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            n = self.rounds
            account = self.accounts[n % 2]
            try:
                with Session(self.device.replica) as session:
                    edit_account(session=session, account_id=account, changes={"notes": f"tournée {n}"})
                    log_activity(
                        session=session,
                        fields={"account_id": account, "occurred_at": "2026-11-20T10:00:00Z", "summary": f"appel {n}"},
                    )
                    owner = self.device.state()["user_id"]
                    create_record(
                        session=session, entity="account", fields={"name": f"Prospect {n}", "owner_id": owner}
                    )
                self.last_notes[account] = f"tournée {n}"
                report = self.device.sync()
            except BaseException as exc:  # noqa: BLE001  (reported by the test)
                self.errors.append(exc)
                return
            self.applied += report.pushed.applied
            self.rejected += report.pushed.rejected
            self.conflicts += report.pushed.conflicts
            self.rounds += 1


class _Watcher(threading.Thread):
    """Asks the server whether it is ready, over and over."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.answers: list[tuple[int, dict[str, Any]]] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.is_set():
                response = http.get("/readyz")
                self.answers.append((response.status_code, response.json()))
                time.sleep(0.02)


@pytest.fixture
def online(demo_engine: Engine, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_live_server(demo_engine, tmp_path)
    yield server
    server.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_the_next_releases_migration_runs_while_reps_sync(online: LiveServer, tmp_path: Path) -> None:
    engine = online.engine
    accounts = [a.id for a in _accounts_of(engine, "alice", 2)]
    migrations, revision = _next_release_migrations(tmp_path)
    http = httpx.Client(base_url=online.url, timeout=60)
    device = SyncEngine(replica=open_replica(tmp_path / "alice"), http=http)
    device.sign_in(username="alice", password="demo")
    device.sync()
    rep, watcher = _Rep(device, accounts), _Watcher(online.url)
    rep.start()
    watcher.start()
    migrator = make_engine(str(engine.url.render_as_string(hide_password=False)))
    try:
        wait_for(lambda: rep.rounds >= 3 or rep.errors)
        during = rep.rounds
        started = time.monotonic()
        upgrade(migrator, script_location=migrations)  # `terrain-server migrate` of the next release
        took = time.monotonic() - started
        after = rep.rounds
        wait_for(lambda: rep.rounds >= after + 3 or rep.errors)
    finally:
        rep.stop.set()
        watcher.stop.set()
        rep.join(60)
        watcher.join(60)
        migrator.dispose()
    try:
        assert rep.errors == [], rep.errors
        assert current_revision(engine) == revision
        with engine.connect() as conn:
            assert "loyalty_tier" in {c["name"] for c in sa.inspect(conn).get_columns("account")}
            valid = conn.execute(
                sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_account_loyalty_tier'::regclass")
            ).scalar_one()
            assert valid is True
        # The server of this release kept answering ready, then ready at the newer schema.
        assert watcher.answers and all(status == 200 for status, _ in watcher.answers), watcher.answers[-3:]
        assert watcher.answers[0][1] == {"status": "ready", "schema_version": head_revision()}
        assert watcher.answers[-1][1] == {
            "status": "ready",
            "schema_version": revision,
            "note": "database is newer than this server",
        }
        # Every change applied, once.
        assert took >= BUILD_SECONDS and after - during >= 3, (took, after - during)  # synced while it ran
        rounds = rep.rounds
        assert rounds >= after + 3 and (rep.applied, rep.rejected, rep.conflicts) == (3 * rounds, 0, 0)
        device_id = device.state()["device_id"]
        with ServerSession(engine) as session:
            processed = session.exec(
                select(func.count()).select_from(ProcessedMutation).where(ProcessedMutation.device_id == device_id)
            ).one()
            assert processed == 3 * rounds
            calls = session.exec(
                select(Activity.summary, func.count())
                .where(Activity.summary.startswith("appel "))  # type: ignore[union-attr]
                .group_by(Activity.summary)
            ).all()
            assert sorted(calls) == sorted((f"appel {n}", 1) for n in range(rounds))
            # Accounts this release's server inserted, before and after the column came: without it.
            prospects = session.execute(
                sa.text(
                    "SELECT name, count(*), count(loyalty_tier) FROM account WHERE name LIKE 'Prospect %' GROUP BY name"
                )
            ).all()
            assert sorted(prospects) == sorted((f"Prospect {n}", 1, 0) for n in range(rounds))
            server_accounts = {a: session.get(Account, a) for a in accounts}
        # The device converged: nothing waiting, the server's records as they are there.
        device.sync()
        with Session(device.replica) as session:
            assert pending_changes(session=session) == {"pending": 0, "rejected": [], "conflicts": []}
            for account_id, stored in server_accounts.items():
                local = session.get(Account, account_id)
                assert stored is not None and local is not None
                assert (local.notes, local.version) == (stored.notes, stored.version)
                assert local.notes == rep.last_notes[account_id]
    finally:
        http.close()
        device.replica.dispose()
