"""Backups and restores as an operator makes them, while devices work: `terrain-server backup`
and `restore` on SQLite, pg_dump and pg_restore on PostgreSQL; then the devices sync with the
restored server and end up with exactly its records, their unsent changes applied once."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from app.edits import add_contact, edit_account, log_activity, pending_changes
from app.models import Account, Activity, Contact
from app.replica import open_replica
from server.backup import FENCE_GAP, BackupError, backup_sqlite, restore_sqlite
from server.db import make_engine
from server.migrate import head_revision
from server.models import ChangeLog, User
from server.settings import ServerSettings
from sync.engine import SyncEngine
from sync.errors import AuthError
from tests.conftest import LiveServer, _drop_pg_database, start_live_server
from tests.integration.test_cli import terrain_server
from tests.integration.test_sync_pull import _replica_rows, _scope_rows

RESTORED = "this server's data is older than this device's: it was restored from a backup: pull again without a cursor"
CHECKED = ("account", "contact", "activity")


@dataclass
class Device:
    """A device of alice's on a real replica file, which notes the 410s its pulls were answered."""

    sync: SyncEngine
    gone: list[str] = field(default_factory=list)


def _device(url: str, tmp_path: Path, name: str, made: list[Device]) -> Device:
    device: Device

    def note_gone(response: httpx.Response) -> None:
        if response.status_code == 410:
            response.read()
            device.gone.append(response.json()["detail"])

    http = httpx.Client(base_url=url, timeout=60, event_hooks={"response": [note_gone]})
    device = Device(SyncEngine(replica=open_replica(tmp_path / name), http=http))
    made.append(device)
    device.sync.sign_in(username="alice", password="demo")
    device.sync.sync()
    return device


@pytest.fixture
def devices() -> Iterator[list[Device]]:
    made: list[Device] = []
    yield made
    for device in made:
        device.sync.http.close()
        device.sync.replica.dispose()


class Writer(threading.Thread):
    """Adds a contact and an activity and edits an account, then sends them, until stopped:
    `sync` (push and pull) or only `push` (the cursor stays where it was)."""

    def __init__(self, device: Device, account_id: str, label: str, *, pull: bool) -> None:
        super().__init__(daemon=True)
        self.device, self.account_id, self.label, self.pull = device, account_id, label, pull
        self.rounds = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                with Session(self.device.sync.replica) as session:
                    name = f"{self.label}-{self.rounds}"
                    add_contact(session=session, fields={"account_id": self.account_id, "last_name": name})
                    log_activity(
                        session=session,
                        fields={"account_id": self.account_id, "occurred_at": "2026-11-20T10:00:00Z", "summary": name},
                    )
                    edit_account(session=session, account_id=self.account_id, changes={"industry": name})
                if self.pull:
                    self.device.sync.sync()
                else:
                    self.device.sync.push()
                self.rounds += 1
        except BaseException as exc:
            self.error = exc

    def wait_rounds(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while self.rounds < count and self.error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.error is None, self.error
        assert self.rounds >= count, f"{self.label}: {self.rounds} rounds"

    def finish(self) -> None:
        self.stop.set()
        self.join(30)
        assert self.error is None, self.error


def _alice_accounts(engine: Engine) -> list[str]:
    with Session(engine) as session:
        alice = session.exec(select(User.id).where(User.username == "alice")).one()
        return list(session.exec(select(Account.id).where(Account.owner_id == alice).order_by(Account.name)).all()[:3])


def _position(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.max(ChangeLog.seq))).one() or 0)


def _names(engine: Engine, prefix: str) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(Contact.last_name).where(col(Contact.last_name).startswith(prefix))).all())


def _offline_changes(device: Device, account_id: str, label: str) -> None:
    """Changes made with no network: they wait in the outbox."""
    with Session(device.sync.replica) as session:
        add_contact(session=session, fields={"account_id": account_id, "last_name": f"{label}-hors-ligne"})
        log_activity(
            session=session,
            fields={"account_id": account_id, "occurred_at": "2026-11-21T09:00:00Z", "summary": f"{label}-hors-ligne"},
        )
        edit_account(session=session, account_id=account_id, changes={"industry": f"{label} hors ligne"})
        assert pending_changes(session=session)["pending"] == 3


def _assert_devices_match(engine: Engine, *devices: Device) -> None:
    """Each device holds exactly the server's records of alice's (ids and versions), its outbox empty."""
    server = _scope_rows(engine, "alice")
    for device in devices:
        replica = _replica_rows(device.sync.replica)
        for name in CHECKED:
            assert replica[name] == server[name], name
        assert replica == server
        with Session(device.sync.replica) as session:
            assert pending_changes(session=session) == {"pending": 0, "rejected": [], "conflicts": []}


def _assert_written_once(engine: Engine, *labels: str) -> None:
    with Session(engine) as session:
        for label in labels:
            names = list(
                session.exec(select(Contact.last_name).where(col(Contact.last_name).startswith(f"{label}-"))).all()
            )
            assert len(names) == len(set(names)), f"{label}: a contact twice"
            summaries = list(
                session.exec(select(Activity.summary).where(col(Activity.summary).startswith(f"{label}-"))).all()
            )
            assert len(summaries) == len(set(summaries)), f"{label}: an activity twice"
            assert f"{label}-hors-ligne" in names and f"{label}-hors-ligne" in summaries
            account = session.exec(select(Account).where(Account.industry == f"{label} hors ligne")).one()
            assert account.version > 1


def _after_restore(engine: Engine, ahead: Device, behind: Device, *others: Device) -> None:
    """The devices sync with the restored server: each pulls afresh (410), its outbox applied
    once; then a new change travels from one to the other."""
    for device in (behind, ahead, *others):
        device.sync.sync()
        assert device.gone, "the device was not told to pull afresh"
    for device in (behind, ahead, *others):  # what the others pushed after each one's first sync
        device.sync.sync()
    _assert_devices_match(engine, ahead, behind, *others)
    _assert_written_once(engine, "A", "B", *(["L"] if others else []))

    account_id = _alice_accounts(engine)[0]
    with Session(ahead.sync.replica) as session:
        new_id = add_contact(session=session, fields={"account_id": account_id, "last_name": "Après-Restauration"}).id
    for device in (ahead, behind, *others):
        device.sync.sync()
    with Session(engine) as session:
        assert session.get(Contact, new_id) is not None
        seq = session.exec(select(func.max(ChangeLog.seq))).one()
    assert seq is not None and seq > FENCE_GAP  # numbered past every position devices knew
    _assert_devices_match(engine, ahead, behind, *others)


def _serve(engine: Engine, data_dir: Path, port: int | None = None) -> LiveServer:
    """uvicorn on 127.0.0.1, signing tokens with the key generated in the data dir, as `serve` does."""
    return start_live_server(engine, data_dir, port, settings=ServerSettings(server_data_dir=data_dir, secret_key=""))


def _start_writing(
    engine: Engine, data_dir: Path, tmp_path: Path, devices: list[Device]
) -> tuple[LiveServer, int, SyncEngine, SyncEngine, list[Writer], list[str], int]:
    """Two devices of alice writing through a live server: `ahead` pushes and pulls, `behind`
    only pushes (its cursor stays); both have done two rounds. Also the server's port, alice's
    first three accounts and the change log's position before."""
    server = _serve(engine, data_dir)
    ahead = _device(server.url, tmp_path, "ahead", devices)
    behind = _device(server.url, tmp_path, "behind", devices)
    accounts = _alice_accounts(engine)
    start = _position(engine)
    writers = [Writer(ahead, accounts[0], "A", pull=True), Writer(behind, accounts[1], "B", pull=False)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.wait_rounds(2)
    return server, int(server.url.rsplit(":", 1)[1]), ahead, behind, writers, accounts, start


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_backup_while_reps_write_then_restore(
    demo_engine: Engine, tmp_path: Path, devices: list[Device]
) -> None:
    database = Path(str(demo_engine.url.database))
    data = tmp_path / "data"
    env = {"TERRAIN_DATABASE_URL": f"sqlite:///{database}", "TERRAIN_SERVER_DATA_DIR": str(data)}
    # Both devices write and push; `ahead` pulls too, `behind` only pushes (its cursor stays).
    server, port, ahead, behind, writers, accounts, start = _start_writing(demo_engine, data, tmp_path, devices)
    account_a, account_b, account_l = accounts
    backup = tmp_path / "backups" / "terrain.db"
    backup.parent.mkdir()
    made = terrain_server("backup", str(backup), env=env)
    assert made.returncode == 0, made.stderr
    for writer in writers:  # they went on while the backup was read, and go on after it
        writer.wait_rounds(writer.rounds + 2)
        writer.finish()
    assert f"backup written: {backup}" in made.stdout and f"schema revision {head_revision()}" in made.stdout

    with closing(sqlite3.connect(backup)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file, no -wal to carry
        taken_at = copy.execute("SELECT max(seq) FROM change_log").fetchone()[0]
        backed_up = {row[0] for row in copy.execute("SELECT last_name FROM contact WHERE last_name LIKE 'B-%'")}
    assert f"change log at {taken_at}" in made.stdout
    final = _position(demo_engine)
    assert start < taken_at < final  # taken in the middle of the writes
    # What `behind` pushed after the backup: acknowledged, on its replica, lost with the restore.
    lost = set(_names(demo_engine, "B-")) - backed_up
    assert lost and _local_names(behind, "B-") >= lost

    # A device that first signs in after the backup: the restored server will not know it.
    late = _device(server.url, tmp_path, "late", devices)
    _offline_changes(ahead, account_a, "A")
    _offline_changes(behind, account_b, "B")
    _offline_changes(late, account_l, "L")

    # The restore, the server stopped (its pool closed: no connection left open on the file).
    signing_key = (data / "secret_key").read_text()
    server.stop()
    demo_engine.dispose()
    refused = terrain_server("restore", str(backup), env=env, stdin="")  # no terminal to confirm on
    assert refused.returncode == 1 and "--yes" in refused.stderr
    restored = terrain_server("restore", str(backup), "--yes", env=env)
    assert restored.returncode == 0, restored.stderr
    assert "every device pulls everything again" in restored.stdout and "are lost" in restored.stdout
    kept = next(database.parent.glob(f"{database.name}.before-restore-*"))
    assert f"kept as {kept}" in restored.stdout
    assert not Path(f"{kept}-wal").exists() and not Path(f"{database}-wal").exists()
    with closing(sqlite3.connect(kept)) as old:  # the replaced database, whole on its own
        assert old.execute("SELECT max(seq) FROM change_log").fetchone()[0] == final
    assert (data / "secret_key").read_text() != signing_key and "is renewed" in restored.stdout

    engine = make_engine(f"sqlite:///{database}")
    server = _serve(engine, data, port=port)
    try:
        assert _position(engine) == taken_at and not set(_names(engine, "B-")) & lost
        # Its access token is refused (a new key) and its session unknown: it asks for the
        # password, and keeps its data; it is not taken for a revoked device (which erases itself).
        with pytest.raises(AuthError):
            late.sync.sync()
        with Session(late.sync.replica) as session:
            assert pending_changes(session=session)["pending"] == 3
        late.sync.sign_in(username="alice", password="demo")
        _after_restore(engine, ahead, behind, late)
        assert RESTORED not in behind.gone  # its cursor was behind the backup: it pulls afresh for the fence
        assert not _local_names(behind, "B-") & lost  # gone from the device too
    finally:
        server.stop()
        engine.dispose()


def _local_names(device: Device, prefix: str) -> set[str]:
    with Session(device.sync.replica) as session:
        return set(session.exec(select(Contact.last_name).where(col(Contact.last_name).startswith(prefix))).all())


def test_a_device_ahead_of_the_server_pulls_afresh_and_keeps_its_outbox(
    api: TestClient, demo_engine: Engine, tmp_path: Path
) -> None:
    """A server put back without `restore` (a file copied back, a database restored by hand):
    a device whose cursor is past its change log is answered 410, not 400, and starts afresh."""
    gone: list[str] = []

    def note_gone(response: httpx.Response) -> None:
        if response.status_code == 410:
            response.read()
            gone.append(response.json()["detail"])

    api.event_hooks["response"].append(note_gone)
    device = SyncEngine(replica=open_replica(tmp_path / "alice"), http=api)
    device.sign_in(username="alice", password="demo")
    device.sync()
    cursor = int(str(device.state()["cursor"]))
    account_id = _alice_accounts(demo_engine)[0]
    with Session(device.replica) as session:
        contact_id = add_contact(session=session, fields={"account_id": account_id, "last_name": "Devant"}).id
    device._set_state(cursor=str(cursor + 500))  # it synced with a server whose log went further
    device.sync()
    assert gone == [RESTORED]
    assert _replica_rows(device.replica) == _scope_rows(demo_engine, "alice")
    with Session(device.replica) as session:
        assert session.get(Contact, contact_id) is not None
        assert pending_changes(session=session)["pending"] == 0

    headers = {"Authorization": f"Bearer {device._access_token}"}
    position = int(str(device.state()["cursor"]))
    for bad in ("nonsense", "d.5.9", "s.-1.0..", "-3"):  # malformed stays 400
        assert api.get("/api/v1/sync/pull", params={"cursor": bad}, headers=headers).status_code == 400, bad
    for ahead in (str(position + 1), f"d.{position + 9}.{position}", f"s.{position + 9}.2.a.b"):
        answer = api.get("/api/v1/sync/pull", params={"cursor": ahead}, headers=headers)
        assert (answer.status_code, answer.json()["detail"]) == (410, RESTORED), ahead


@pytest.mark.parametrize("backend", ["sqlite"])
def test_backup_and_restore_refuse_what_would_lose_data(demo_engine: Engine, tmp_path: Path) -> None:
    """An existing backup file, a file that is not a Terrain database, a server still running."""
    database = Path(str(demo_engine.url.database))
    backup = tmp_path / "terrain.db"
    assert backup_sqlite(database, backup).position > 0
    with pytest.raises(BackupError, match="pass --force"):
        backup_sqlite(database, backup)
    assert backup_sqlite(database, backup, force=True).size == backup.stat().st_size
    not_terrain = tmp_path / "other.db"
    sqlite3.connect(not_terrain).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(BackupError, match="not a Terrain server database"):
        restore_sqlite(not_terrain, database)
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all" * 100)
    with pytest.raises(BackupError, match="not a SQLite database"):
        restore_sqlite(text, database)
    with demo_engine.connect() as busy:  # a server still running: its connection holds the file
        busy.exec_driver_sql("SELECT 1 FROM change_log LIMIT 1").all()
        with pytest.raises(BackupError, match="another process"):
            restore_sqlite(backup, database)
    demo_engine.dispose()
    assert not list(tmp_path.glob("*.before-restore-*"))  # nothing was replaced
    report = restore_sqlite(backup, database)
    assert report.kept is not None and report.kept.exists() and report.fenced_at == report.position + FENCE_GAP


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_postgresql_pg_dump_while_reps_write_then_pg_restore(
    pg_admin: str, demo_engine: Engine, tmp_path: Path, devices: list[Device]
) -> None:
    source = demo_engine.url.render_as_string(hide_password=False)
    server, port, ahead, behind, writers, accounts, start = _start_writing(
        demo_engine, tmp_path / "data", tmp_path, devices
    )
    account_a, account_b, _ = accounts
    dump = tmp_path / "terrain.dump"
    dumped = subprocess.run(
        ["pg_dump", "-Fc", "-f", str(dump), _libpq(source)], capture_output=True, text=True, timeout=60
    )
    assert dumped.returncode == 0, dumped.stderr
    for writer in writers:
        writer.wait_rounds(writer.rounds + 2)
        writer.finish()
    final = _position(demo_engine)
    _offline_changes(ahead, account_a, "A")
    _offline_changes(behind, account_b, "B")
    server.stop()

    name = f"terrain_test_{uuid.uuid4().hex[:12]}"
    target = source.rsplit("/", 1)[0] + f"/{name}"
    host = demo_engine.url
    try:
        for command in (
            ["createdb", "-h", str(host.host), "-p", str(host.port or 5432), "-U", str(host.username), name],
            ["pg_restore", "--no-owner", "-d", _libpq(target), str(dump)],
        ):
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (command, done.stderr)
        env = {"TERRAIN_DATABASE_URL": target, "TERRAIN_SERVER_DATA_DIR": str(tmp_path / "data")}
        for args in (("migrate",), ("restore", "--mark-restored", "--yes")):
            done = terrain_server(*args, env=env)
            assert done.returncode == 0, (args, done.stderr)
        engine = make_engine(target)
        try:
            taken_at = _position(engine)
            assert start < taken_at < final  # dumped in the middle of the writes
            server = _serve(engine, tmp_path / "data", port=port)
            try:
                _after_restore(engine, ahead, behind)
            finally:
                server.stop()
        finally:
            engine.dispose()
    finally:
        _drop_pg_database(pg_admin, name)
