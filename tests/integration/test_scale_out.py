"""Several server processes on one database, killed and restarted, and the change log compacted
while reps sync: every device ends with exactly the server's records, every change once.

The servers are real `terrain-server serve` processes on 127.0.0.1 (killed with SIGKILL), the
devices real `SyncEngine`s on their own SQLite replicas, talking HTTP.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.edits import edit_account, log_activity, pending_changes
from app.models import Account, Activity
from app.replica import open_replica
from server.compact import compacted_through
from server.db import ServerSession
from server.models import ProcessedMutation
from sync.engine import SyncEngine
from sync.state import OutboxEntry
from tests.conftest import free_port
from tests.integration.test_sync_pull import _replica_rows, _scope_rows

SECRET = "scale-out-secret-" + "y" * 32
SERVER = str(Path(sys.executable).parent / "terrain-server")


@dataclass
class ServerProcess:
    """`terrain-server serve` in its own process group, on a database it shares."""

    database_url: str
    data_dir: Path
    name: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "TERRAIN_DATABASE_URL": self.database_url,
            "TERRAIN_SERVER_DATA_DIR": str(self.data_dir),
            "TERRAIN_SECRET_KEY": SECRET,
        }
        with (self.data_dir / f"{self.name}.log").open("ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [SERVER, "serve", "--port", str(self.port), "--log-level", "warning"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.data_dir / f"{self.name}.log").read_text()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server {self.name} did not become ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to the database, as when a machine dies."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def _url(engine: Engine, application_name: str) -> str:
    url = engine.url
    if url.get_backend_name() == "postgresql":
        url = url.update_query_dict({"application_name": application_name})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def servers(demo_engine: Engine, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two server processes on PostgreSQL, one on SQLite (one file has one writer anyway)."""
    count = 2 if demo_engine.url.get_backend_name() == "postgresql" else 1
    started = [
        ServerProcess(_url(demo_engine, f"terrain-{n}"), tmp_path / "servers", f"server-{n}").start()
        for n in range(count)
    ]
    yield started
    for server in started:
        server.stop()


_CLIENTS: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


def _client(server: ServerProcess) -> httpx.Client:
    _CLIENTS.append(httpx.Client(base_url=server.url, timeout=60))
    return _CLIENTS[-1]


def _device(tmp_path: Path, name: str, username: str, server: ServerProcess) -> SyncEngine:
    device = SyncEngine(replica=open_replica(tmp_path / name), http=_client(server))
    device.sign_in(username=username, password="demo")
    device.sync()
    return device


def _through(device: SyncEngine, server: ServerProcess) -> SyncEngine:
    """From now on the device reaches the server through this process (a load balancer's choice)."""
    device.http = _client(server)
    return device


def _own_accounts(device: SyncEngine) -> list[str]:
    with Session(device.replica) as session:
        return list(session.exec(select(Account.id).order_by(col(Account.id))).all())


def _work(device: SyncEngine, rng: random.Random, label: str) -> str:
    """One activity (its summary unique: a change applied twice would show as two) and one edit."""
    accounts = _own_accounts(device)
    with Session(device.replica) as session:
        log_activity(
            session=session,
            fields={"account_id": rng.choice(accounts), "occurred_at": "2026-11-20T09:00:00Z", "summary": label},
        )
        edit_account(session=session, account_id=rng.choice(accounts), changes={"notes": label})
    return label


def _assert_converged(devices: dict[str, tuple[SyncEngine, str]], server: Engine) -> None:
    for name, (device, username) in devices.items():
        with Session(device.replica) as session:
            assert pending_changes(session=session)["pending"] == 0, name
            assert session.exec(select(OutboxEntry)).all() == [], name  # nothing refused either
        assert _replica_rows(device.replica) == _scope_rows(server, username), name


def _summaries(server: Engine, labels: set[str]) -> Counter[str]:
    with ServerSession(server) as session:
        found = session.exec(select(Activity.summary).where(col(Activity.summary).in_(sorted(labels)))).all()
    return Counter(str(s) for s in found)


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_two_server_processes_share_postgresql_and_one_killed_mid_push_loses_nothing(
    demo_engine: Engine, servers: list[ServerProcess], tmp_path: Path
) -> None:
    first, second = servers
    phone = _device(tmp_path, "phone", "alice", first)
    laptop = _device(tmp_path, "laptop", "alice", second)
    tablet = _device(tmp_path, "tablet", "alice", second)
    rng = random.Random(5)

    # A push through one process is seen by a pull through the other, both ways.
    made = {_work(phone, rng, "phone-0")}
    phone.sync()
    laptop.sync()
    with Session(laptop.replica) as session:
        assert session.exec(select(Activity).where(Activity.summary == "phone-0")).one()
    made.add(_work(laptop, rng, "laptop-0"))
    laptop.sync()
    phone.sync()
    with Session(phone.replica) as session:
        assert session.exec(select(Activity).where(Activity.summary == "laptop-0")).one()

    # Both processes take pushes at once while the others pull through either: the cursor, given
    # out in commit order across processes, skips nothing.
    failures: list[BaseException] = []

    def rounds(device: SyncEngine, label: str, seed: int) -> None:
        local = random.Random(seed)
        try:
            for n in range(12):
                made.add(_work(device, local, f"{label}-{n + 1}"))
                device.sync()
        except BaseException as exc:  # reported below
            failures.append(exc)

    writers = [
        threading.Thread(target=rounds, args=(phone, "phone", 1)),
        threading.Thread(target=rounds, args=(laptop, "laptop", 2)),
    ]
    for thread in writers:
        thread.start()
    while any(thread.is_alive() for thread in writers):
        _through(tablet, servers[rng.randrange(2)]).sync()
    for thread in writers:
        thread.join()
    assert failures == []

    # A big push through the first process; the process is killed while it applies it.
    labels = [f"batch-{n}" for n in range(400)]
    accounts = _own_accounts(phone)
    with Session(phone.replica) as session:
        for n, label in enumerate(labels):
            log_activity(
                session=session,
                fields={
                    "account_id": accounts[n % len(accounts)],
                    "occurred_at": "2026-11-21T09:00:00Z",
                    "summary": label,
                },
            )
    made.update(labels)
    pushing = threading.Thread(target=lambda: _swallow(lambda: phone.push(batch_size=400)))
    pushing.start()
    _kill_while_it_writes(first, demo_engine)
    pushing.join(30)
    with ServerSession(demo_engine) as session:
        device_id = phone.state()["device_id"]
        applied = session.exec(select(ProcessedMutation).where(ProcessedMutation.device_id == device_id)).all()
    assert _summaries(demo_engine, set(labels)) == Counter(), "the killed push was rolled back whole"
    with Session(phone.replica) as session:
        assert pending_changes(session=session)["pending"] == 400  # still in the outbox

    # The device goes on through the other process; the killed one restarts and serves again.
    _through(phone, second).sync()
    first.start()
    for device in (phone, laptop, tablet):
        _through(device, first).sync()
        _through(device, second).sync()
    with ServerSession(demo_engine) as session:
        after = session.exec(select(ProcessedMutation).where(ProcessedMutation.device_id == device_id)).all()
    assert len(after) == len(applied) + 400
    assert len({m.mid for m in after}) == len(after)
    assert _summaries(demo_engine, made) == Counter(dict.fromkeys(made, 1)), "every change once"
    _assert_converged(
        {"phone": (phone, "alice"), "laptop": (laptop, "alice"), "tablet": (tablet, "alice")}, demo_engine
    )


def _swallow(push: Any) -> None:
    try:
        push()
    except Exception:  # the server died under it: the test looks at what was kept
        pass


def _kill_while_it_writes(server: ServerProcess, engine: Engine) -> None:
    """SIGKILL the server as soon as its connection has begun writing the push's records."""
    admin = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    deadline = time.monotonic() + 30
    with psycopg.connect(admin, autocommit=True) as conn:
        while time.monotonic() < deadline:
            writing = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND backend_xid IS NOT NULL AND (query ILIKE '%%savepoint%%' OR query ILIKE '%%activity%%')",
                (server.database_url.rsplit("application_name=", 1)[1],),
            ).fetchone()
            if writing and writing[0]:
                server.kill()
                return
            time.sleep(0.005)
    raise AssertionError("the push never began writing")


def test_compaction_during_a_sync_storm_loses_and_repeats_nothing(
    demo_engine: Engine, servers: list[ServerProcess], tmp_path: Path
) -> None:
    people = {"phone": "alice", "laptop": "alice", "bruno": "bruno", "chloe": "chloe"}
    devices = {
        name: (_device(tmp_path, name, username, servers[n % len(servers)]), username)
        for n, (name, username) in enumerate(people.items())
    }
    resets: Counter[str] = Counter()
    for name, (device, _user) in devices.items():
        original = device.reset_replica

        def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> None:
            resets[_name] += 1
            _original(*args, **kwargs)

        device.reset_replica = counted  # type: ignore[method-assign]
    made: set[str] = set()
    failures: list[BaseException] = []
    stop = threading.Event()

    def storm(name: str, device: SyncEngine, seed: int) -> None:
        rng = random.Random(seed)
        n = 0
        try:
            while not stop.is_set():
                made.add(_work(device, rng, f"{name}-{n}"))
                device.sync()
                n += 1
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [
        threading.Thread(target=storm, args=(name, device, seed))
        for seed, (name, (device, _user)) in enumerate(devices.items())
    ]
    for thread in threads:
        thread.start()
    env = {**os.environ, "TERRAIN_DATABASE_URL": _url(demo_engine, "terrain-compact")}
    removed = []
    try:
        for _ in range(6):
            time.sleep(0.6)
            done = subprocess.run(
                [SERVER, "compact", "--older-than-days", "0"], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            removed.append(int(done.stdout.split()[1]))
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert failures == []
    assert sum(removed) > 0 and sum(resets.values()) > 0, (removed, resets)  # the horizon did overtake devices
    for _ in range(2):
        for device, _user in devices.values():
            device.sync()
    with ServerSession(demo_engine) as session:
        assert compacted_through(session) > 0
    assert _summaries(demo_engine, made) == Counter(dict.fromkeys(made, 1)), "every change once, none lost"
    _assert_converged(devices, demo_engine)
