"""Sync through a real TCP proxy that cuts connections: nothing lost, nothing applied twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from app.edits import add_contact, log_activity, pending_changes
from app.models import Account, Activity, Contact
from app.replica import open_replica
from server.models import User
from sync.engine import SyncEngine
from sync.errors import TransportError
from sync.state import read_state
from tests.conftest import LiveServer, sign_in
from tests.faults import Cut, FaultyProxy


@pytest.fixture
def proxy(live_server: LiveServer) -> Iterator[FaultyProxy]:
    faulty = FaultyProxy(upstream_port=int(live_server.url.rsplit(":", 1)[1])).start()
    yield faulty
    faulty.stop()


def _device_behind(proxy: FaultyProxy, tmp_path: Path, username: str) -> SyncEngine:
    # No keep-alive: every request opens its own connection, so each one meets its own fault.
    http = httpx.Client(base_url=proxy.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0))
    device = SyncEngine(replica=open_replica(tmp_path / username), http=http)
    device.sign_in(username=username, password="demo")
    device.sync()
    return device


def _alice_account(live_server: LiveServer) -> Account:
    with Session(live_server.engine) as session:
        alice = session.exec(select(User.id).where(User.username == "alice")).one()
        account = session.exec(select(Account).where(Account.owner_id == alice).order_by(Account.name)).first()
    assert account is not None
    return account


def test_a_push_whose_answer_is_lost_three_times_is_applied_once(
    live_server: LiveServer, proxy: FaultyProxy, tmp_path: Path
) -> None:
    device = _device_behind(proxy, tmp_path, "alice")
    account = _alice_account(live_server)
    with Session(device.replica) as session:
        contact_id = add_contact(
            session=session, fields={"account_id": account.id, "last_name": "Perdue-Trois-Fois"}
        ).id
        log_activity(
            session=session,
            fields={"account_id": account.id, "occurred_at": "2026-11-20T10:00:00Z", "summary": "Appel perdu"},
        )
    proxy.cut_next(Cut(response_bytes=0), Cut(response_bytes=0), Cut(response_bytes=17))
    for attempt in range(3):
        with pytest.raises(TransportError):
            device.sync()
        with Session(live_server.engine) as session:  # the server did commit: only its answer was lost
            assert session.get(Contact, contact_id) is not None, attempt
        with Session(device.replica) as session:
            assert pending_changes(session=session)["pending"] == 2  # nothing leaves without an answer
    device.sync()
    with Session(live_server.engine) as session:
        assert (
            session.exec(
                select(func.count()).select_from(Contact).where(Contact.last_name == "Perdue-Trois-Fois")
            ).one()
            == 1
        )
        assert (
            session.exec(select(func.count()).select_from(Activity).where(Activity.summary == "Appel perdu")).one() == 1
        )
    with Session(device.replica) as session:
        assert pending_changes(session=session) == {"pending": 0, "rejected": [], "conflicts": []}


def test_a_pull_cut_at_any_byte_resumes_without_loss(
    live_server: LiveServer, proxy: FaultyProxy, tmp_path: Path
) -> None:
    from tests.integration.test_sync_pull import _replica_rows, _scope_rows

    http = httpx.Client(base_url=proxy.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0))
    device = SyncEngine(replica=open_replica(tmp_path / "chloe"), http=http)
    device.sign_in(username="chloe", password="demo")
    # The first sync's pages are cut at growing offsets: mid-headers, mid-body, just before the end.
    proxy.cut_next(
        Cut(response_bytes=10), Cut(response_bytes=5_000), Cut(request_bytes=40), Cut(response_bytes=200_000)
    )
    failures = 0
    for _ in range(10):
        try:
            device.sync()
            break
        except TransportError:
            failures += 1
    assert failures >= 3
    assert _replica_rows(device.replica) == _scope_rows(live_server.engine, "chloe")


def test_after_server_errors_and_timeouts_the_outbox_drains_by_itself(
    live_server: LiveServer, proxy: FaultyProxy, tmp_path: Path
) -> None:
    import asyncio

    from sync.loop import SyncLoop, SyncSchedule
    from tests.faults import SERVER_ERROR

    # Signing in (a password hash) and the first sync get time; the faults below meet 1 s.
    with httpx.Client(base_url=live_server.url, timeout=30) as setup:
        device = SyncEngine(replica=open_replica(tmp_path / "alice"), http=setup)
        device.sign_in(username="alice", password="demo")
        device.sync()
    http = httpx.Client(
        base_url=proxy.url, timeout=httpx.Timeout(1.0), limits=httpx.Limits(max_keepalive_connections=0)
    )
    device.http = http
    account = _alice_account(live_server)
    with Session(device.replica) as session:
        for number in range(3):
            log_activity(
                session=session,
                fields={
                    "account_id": account.id,
                    "occurred_at": "2026-11-20T10:00:00Z",
                    "summary": f"patience {number}",
                },
            )
    # Three 500s, then two requests left unanswered past the client's timeout, then a healthy server.
    proxy.cut_next(*[Cut(reply=SERVER_ERROR)] * 3, Cut(hang=2.0), Cut(hang=2.0))
    pending_seen: list[int] = []
    attempts = 0

    async def sync_once() -> bool | None:
        nonlocal attempts
        attempts += 1
        try:
            await asyncio.to_thread(device.sync)
        except TransportError:
            return False
        finally:
            with Session(device.replica) as session:
                pending_seen.append(pending_changes(session=session)["pending"])
        return True

    async def probe() -> bool:
        try:
            return (await asyncio.to_thread(http.get, "/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def run_until_drained() -> None:
        schedule = SyncSchedule(base_backoff=0.05, max_backoff=0.2, probe_interval=0.05, period=60)
        loop = SyncLoop(sync_once=sync_once, probe=probe, schedule=schedule)
        task = asyncio.create_task(loop.run())
        deadline = asyncio.get_running_loop().time() + 60
        while pending_seen[-1:] != [0]:
            assert asyncio.get_running_loop().time() < deadline, f"outbox never drained: {pending_seen}"
            await asyncio.sleep(0.05)
        loop.stop()
        await asyncio.wait_for(task, 10)

    asyncio.run(run_until_drained())
    assert attempts >= 2 and pending_seen[:-1] and all(count == 3 for count in pending_seen[:-1])
    with Session(live_server.engine) as session:
        summaries = session.exec(select(Activity.summary).where(Activity.summary.like("patience %"))).all()  # type: ignore[union-attr]
    assert sorted(summaries) == ["patience 0", "patience 1", "patience 2"]


def _sign_in_device(proxy: FaultyProxy, tmp_path: Path, username: str, name: str) -> SyncEngine:
    http = httpx.Client(base_url=proxy.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0))
    device = SyncEngine(replica=open_replica(tmp_path / name), http=http)
    device.sign_in(username=username, password="demo")
    device.sync()
    return device


def _contact_on(device: SyncEngine, contact_id: str) -> Contact | None:
    with Session(device.replica) as session:
        return session.get(Contact, contact_id)


def test_a_record_deleted_on_one_device_never_comes_back(
    live_server: LiveServer, proxy: FaultyProxy, tmp_path: Path
) -> None:
    from app.edits import delete_contact, edit_contact

    phone = _sign_in_device(proxy, tmp_path, "alice", "phone")
    laptop = _sign_in_device(proxy, tmp_path, "alice", "laptop")
    manager = _sign_in_device(proxy, tmp_path, "manon", "manager")
    with Session(live_server.engine) as session:
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        # A person the history names: their activities must stay, without them.
        contact = session.exec(
            select(Contact)
            .join(Activity, Activity.contact_id == Contact.id)  # type: ignore[arg-type]
            .join(Account, Account.id == Contact.account_id)  # type: ignore[arg-type]
            .where(Account.owner_id == alice_id)
        ).first()
        assert contact is not None
        named = session.exec(select(Activity.id).where(Activity.contact_id == contact.id)).all()
    # Offline, the phone deletes the person while the laptop edits them.
    with Session(phone.replica) as session:
        delete_contact(session=session, contact_id=contact.id)
    with Session(laptop.replica) as session:
        edit_contact(session=session, contact_id=contact.id, changes={"role": "Gérante"})
    # The phone's delete reaches the server, but its answer is lost twice on the way back.
    proxy.cut_next(Cut(response_bytes=0), Cut(response_bytes=30))
    for _ in range(2):
        with pytest.raises(TransportError):
            phone.sync()
        assert _contact_on(phone, contact.id) is None  # still deleted here while unacknowledged
    phone.sync()
    laptop.sync()
    manager.sync()
    phone.sync()
    with Session(live_server.engine) as session:
        assert session.get(Contact, contact.id) is None
    for device in (phone, laptop, manager):
        assert _contact_on(device, contact.id) is None
    with Session(laptop.replica) as session:
        changes = pending_changes(session=session)
    # The laptop's edit was not silently dropped: the rep sees why it did not apply.
    assert changes["pending"] == 0
    assert [(r["id"], r["reason"]) for r in changes["rejected"]] == [
        (contact.id, "this contact was deleted in the meantime")
    ]
    # History that named the person is kept, without the name, everywhere.
    for engine in (live_server.engine, phone.replica, laptop.replica, manager.replica):
        with Session(engine) as session:
            kept = session.exec(select(Activity).where(col(Activity.id).in_(named))).all()
        assert len(kept) == len(named) and all(a.contact_id is None for a in kept)


def test_edits_to_an_account_reassigned_while_offline_reach_the_server_then_it_moves(
    live_server: LiveServer, proxy: FaultyProxy, tmp_path: Path
) -> None:
    from app.edits import edit_account
    from tests.integration.test_sync_pull import _replica_rows, _scope_rows

    alice = _sign_in_device(proxy, tmp_path, "alice", "alice")
    bruno = _sign_in_device(proxy, tmp_path, "bruno", "bruno")
    account = _alice_account(live_server)
    # Offline, alice writes down what she learnt at her visit...
    with Session(alice.replica) as session:
        edit_account(session=session, account_id=account.id, changes={"notes": "Contrat concurrent fini en mars"})
        contact_id = add_contact(session=session, fields={"account_id": account.id, "last_name": "Nouveau-Venu"}).id
        log_activity(
            session=session,
            fields={"account_id": account.id, "occurred_at": "2026-11-20T10:00:00Z", "summary": "Visite faite"},
        )
    # ...while her manager gives the account to bruno.
    with httpx.Client(base_url=live_server.url) as client:
        with Session(live_server.engine) as session:
            bruno_id = session.exec(select(User.id).where(User.username == "bruno")).one()
        response = client.post(
            f"/api/v1/accounts/{account.id}/reassign",
            json={"owner_id": bruno_id},
            headers=sign_in(client, "manon"),
        )
        assert response.status_code == 200, response.text
    proxy.cut_next(Cut(response_bytes=100))  # and her first push's answer is lost
    with pytest.raises(TransportError):
        alice.sync()
    alice.sync()
    with Session(alice.replica) as session:
        assert pending_changes(session=session) == {"pending": 0, "rejected": [], "conflicts": []}
    with Session(live_server.engine) as session:
        moved = session.get(Account, account.id)
        assert moved is not None and moved.notes == "Contrat concurrent fini en mars" and moved.owner_id == bruno_id
        assert session.get(Contact, contact_id) is not None
        assert (
            session.exec(select(func.count()).select_from(Activity).where(Activity.summary == "Visite faite")).one()
            == 1
        )
    # The account and everything under it left alice's device, and arrived whole on bruno's.
    with Session(alice.replica) as session:
        assert session.get(Account, account.id) is None
        assert (
            session.exec(select(func.count()).select_from(Contact).where(Contact.account_id == account.id)).one() == 0
        )
    bruno.sync()
    assert _replica_rows(alice.replica) == _scope_rows(live_server.engine, "alice")
    assert _replica_rows(bruno.replica) == _scope_rows(live_server.engine, "bruno")
    with Session(bruno.replica) as session:
        assert session.get(Contact, contact_id) is not None
        assert session.exec(select(Activity).where(Activity.summary == "Visite faite")).first() is not None
    # Once alice has pulled the move, a new edit of hers to that account is refused.
    with httpx.Client(base_url=live_server.url) as client:
        state = alice.state()
        late = client.post(
            "/api/v1/sync/push",
            json={
                "client_id": state["device_id"],
                "schema_version": 1,
                "pulled_through": int(state["cursor"] or 0),
                "mutations": [
                    {
                        "mid": 10_000,
                        "entity": "account",
                        "id": account.id,
                        "op": "update",
                        "base_version": 1,
                        "fields": {"notes": "trop tard"},
                    }
                ],
            },
            headers=sign_in(client, "alice", device_id=state["device_id"]),
        )
    assert late.json()["results"][0] == {
        "mid": 10_000,
        "status": "rejected",
        "reason": "this account is no longer yours",
        "version": None,
        "conflicts": [],
        "row": None,  # nothing of that account is hers to see any more
    }


def _run_killed_device(data_dir: Path, url: str, username: str, pattern: str, count: int) -> int:
    """Sync in another process, killed (SIGKILL) right after the `count`-th statement matching `pattern`."""
    import signal
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-m", "tests.sync_child", str(data_dir), url, username, pattern, str(count)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    applied = [int(line.split()[1]) for line in child.stderr.splitlines() if line.startswith("applied ")]
    return applied[-1] if applied else 0


def _integrity(replica: Engine) -> str:
    with replica.connect() as conn:
        return str(conn.exec_driver_sql("PRAGMA integrity_check").scalar_one())


def test_an_app_killed_mid_pull_page_and_mid_push_loses_nothing_and_half_applies_nothing(
    live_server: LiveServer, proxy: FaultyProxy, tmp_path: Path
) -> None:
    from tests.integration.test_sync_pull import _replica_rows, _scope_rows

    data_dir = tmp_path / "alice"
    # Killed inside the transaction of a page of its first pull (pages of 100), right after the
    # 50th order of the pull was written.
    committed = _run_killed_device(data_dir, proxy.url, "alice", 'INSERT INTO "order"', 50)
    replica = open_replica(data_dir)
    assert _integrity(replica) == "ok"
    rows = _replica_rows(replica)
    assert committed > 0 and committed % 100 == 0  # some whole pages...
    assert sum(len(ids) for ids in rows.values()) == committed  # ...and nothing of the one it died in
    assert len(rows["order"]) < 50
    with Session(replica) as session:
        assert read_state(session).get("cursor") is None  # the pull is not done: it starts again
    device = SyncEngine(
        replica=replica,
        http=httpx.Client(base_url=proxy.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)),
    )
    device.sign_in(username="alice", password="demo")
    device.sync()
    assert _replica_rows(replica) == _scope_rows(live_server.engine, "alice")

    # Five changes made offline; the app dies while recording the server's answers to them.
    account = _alice_account(live_server)
    with Session(replica) as session:
        for number in range(5):
            log_activity(
                session=session,
                fields={"account_id": account.id, "occurred_at": "2026-11-21T09:00:00Z", "summary": f"tué {number}"},
            )
    replica.dispose()
    assert _run_killed_device(data_dir, proxy.url, "alice", "DELETE FROM outbox", 2) == 0
    assert _integrity(replica) == "ok"
    with Session(replica) as session:
        assert pending_changes(session=session)["pending"] == 5  # no answer was recorded: all still queued
        assert session.exec(select(func.count()).select_from(Activity).where(Activity.summary.like("tué %"))).one() == 5  # type: ignore[union-attr]
    device.sync()
    with Session(replica) as session:
        assert pending_changes(session=session) == {"pending": 0, "rejected": [], "conflicts": []}
    with Session(live_server.engine) as session:
        summaries = session.exec(select(Activity.summary).where(Activity.summary.like("tué %"))).all()  # type: ignore[union-attr]
    assert sorted(summaries) == [f"tué {n}" for n in range(5)]  # each once
    assert _replica_rows(replica) == _scope_rows(live_server.engine, "alice")
