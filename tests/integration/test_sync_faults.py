"""Sync through a real TCP proxy that cuts connections: nothing lost, nothing applied twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, func, select

from app.edits import add_contact, log_activity, pending_changes
from app.models import Account, Activity, Contact
from app.replica import open_replica
from server.models import User
from sync.engine import SyncEngine
from sync.errors import TransportError
from tests.conftest import LiveServer
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

    http = httpx.Client(
        base_url=proxy.url, timeout=httpx.Timeout(1.0), limits=httpx.Limits(max_keepalive_connections=0)
    )
    device = SyncEngine(replica=open_replica(tmp_path / "alice"), http=http)
    device.sign_in(username="alice", password="demo")
    device.sync()
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
