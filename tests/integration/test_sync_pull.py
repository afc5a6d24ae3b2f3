"""Pulling a rep's scope into a real replica file, on SQLite and on PostgreSQL servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from app.models import ENTITIES, Account, entity_table
from app.replica import open_replica
from server.db import ServerSession
from server.models import User
from sync.engine import SyncEngine
from tests.conftest import sign_in


def _scope_rows(server: Engine, username: str) -> dict[str, set[tuple[str, int]]]:
    """(id, version) of every record the user should have, read straight from the server."""
    with ServerSession(server) as session:
        owner_id = session.exec(select(User.id).where(User.username == username)).one()
        account_ids = set(session.exec(select(Account.id).where(Account.owner_id == owner_id)).all())
    out: dict[str, set[tuple[str, int]]] = {}
    with server.connect() as conn:
        for name in ENTITIES:
            table = entity_table(name)
            rows = conn.execute(
                sa.select(table.c.id, table.c.version, *([table.c.account_id] if "account_id" in table.c else []))
            ).all()
            keep = set()
            for row in rows:
                account = row.id if name == "account" else (row.account_id if "account_id" in table.c else None)
                if name == "account":
                    if row.id in account_ids:
                        keep.add((row.id, row.version))
                elif account is None or account in account_ids:
                    keep.add((row.id, row.version))
            out[name] = keep
    return out


def _replica_rows(replica: Engine) -> dict[str, set[tuple[str, int]]]:
    with replica.connect() as conn:
        return {
            name: {
                (r.id, r.version)
                for r in conn.execute(sa.select(entity_table(name).c.id, entity_table(name).c.version))
            }
            for name in ENTITIES
        }


def _device(api: TestClient, tmp_path: Path, name: str = "device") -> SyncEngine:
    return SyncEngine(replica=open_replica(tmp_path / name), http=api)


def test_a_first_pull_brings_exactly_the_reps_scope(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path)
    device.sign_in(username="alice", password="demo")
    report = device.sync()
    server = api.app.state.engine  # type: ignore[attr-defined]
    expected = _scope_rows(server, "alice")
    assert _replica_rows(device.replica) == expected
    assert report.upserts == sum(len(rows) for rows in expected.values())
    assert len(expected["account"]) == 110 and len(expected["order_line"]) > 1000
    assert device.state()["cursor"] == report.cursor


def test_small_pages_give_the_same_replica_as_one_big_page(api: TestClient, tmp_path: Path) -> None:
    small = _device(api, tmp_path, "small")
    small.sign_in(username="bruno", password="demo")
    report = small.pull(page_size=37)
    assert report.pages > 100
    big = _device(api, tmp_path, "big")
    big.sign_in(username="bruno", password="demo")
    big.pull(page_size=5000)
    assert _replica_rows(small.replica) == _replica_rows(big.replica)


def test_a_pull_cut_midway_keeps_the_old_cursor_and_resumes_without_loss(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path)
    device.sign_in(username="chloe", password="demo")

    class Cut(Exception):
        pass

    def cut_after_three_pages(pages: int, _records: int) -> None:
        if pages == 3:
            raise Cut

    with pytest.raises(Cut):
        device.pull(on_page=cut_after_three_pages, page_size=200)
    assert device.state().get("cursor") is None
    device.pull(page_size=200)
    assert _replica_rows(device.replica) == _scope_rows(api.app.state.engine, "chloe")  # type: ignore[attr-defined]


def test_a_delta_pull_brings_only_what_changed_since_the_cursor(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path)
    device.sign_in(username="alice", password="demo")
    device.sync()
    manon = sign_in(api, "manon")
    server = api.app.state.engine  # type: ignore[attr-defined]
    with ServerSession(server) as session:
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        bruno_id = session.exec(select(User.id).where(User.username == "bruno")).one()
        mine = session.exec(select(Account).where(Account.owner_id == alice_id).order_by(Account.name)).first()
        theirs = session.exec(select(Account).where(Account.owner_id == bruno_id)).first()
    assert mine is not None and theirs is not None
    assert (
        api.patch(
            f"/api/v1/accounts/{mine.id}", json={"notes": "Nouveau code portail : 4521"}, headers=manon
        ).status_code
        == 200
    )
    assert (
        api.patch(f"/api/v1/accounts/{theirs.id}", json={"notes": "pas pour alice"}, headers=manon).status_code == 200
    )
    report = device.sync()
    assert (report.upserts, report.deletes, report.purges) == (1, 0, 0)
    with device.replica.connect() as conn:
        notes, version = conn.execute(sa.select(Account.notes, Account.version).where(Account.id == mine.id)).one()  # type: ignore[call-overload]
        assert conn.execute(sa.select(Account.id).where(Account.id == theirs.id)).first() is None  # type: ignore[call-overload]
    assert (notes, version) == ("Nouveau code portail : 4521", 2)
    assert device.sync().upserts == 0


def test_an_account_given_to_another_rep_is_purged_from_the_old_device_and_arrives_whole(
    api: TestClient, tmp_path: Path
) -> None:
    alice_device = _device(api, tmp_path, "alice")
    alice_device.sign_in(username="alice", password="demo")
    alice_device.sync()
    bruno_device = _device(api, tmp_path, "bruno")
    bruno_device.sign_in(username="bruno", password="demo")
    bruno_device.sync()
    server = api.app.state.engine  # type: ignore[attr-defined]
    with ServerSession(server) as session:
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        bruno_id = session.exec(select(User.id).where(User.username == "bruno")).one()
        moved = session.exec(select(Account).where(Account.owner_id == alice_id).order_by(Account.name)).first()
    assert moved is not None
    manon = sign_in(api, "manon")
    assert (
        api.post(f"/api/v1/accounts/{moved.id}/reassign", json={"owner_id": bruno_id}, headers=manon).status_code == 200
    )
    alice_device.sync()
    bruno_device.sync()
    assert _replica_rows(alice_device.replica) == _scope_rows(server, "alice")
    assert _replica_rows(bruno_device.replica) == _scope_rows(server, "bruno")
    with alice_device.replica.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM contact WHERE account_id = :a"), {"a": moved.id}).scalar_one()
            == 0
        )
    with bruno_device.replica.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM contact WHERE account_id = :a"), {"a": moved.id}).scalar_one()
            > 0
        )


def test_a_record_deleted_on_the_server_disappears_from_the_device(api: TestClient, tmp_path: Path) -> None:
    from app.models import Activity

    device = _device(api, tmp_path)
    device.sign_in(username="alice", password="demo")
    device.sync()
    server = api.app.state.engine  # type: ignore[attr-defined]
    with ServerSession(server) as session:
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        activity = session.exec(
            select(Activity).join(Account, Account.id == Activity.account_id).where(Account.owner_id == alice_id)  # type: ignore[arg-type]
        ).first()
        assert activity is not None
        session.delete(activity)
        session.commit()
    report = device.sync()
    assert report.deletes == 1
    assert _replica_rows(device.replica) == _scope_rows(server, "alice")


def test_another_users_pull_cannot_see_alices_records(api: TestClient) -> None:
    bruno = sign_in(api, "bruno")
    server = api.app.state.engine  # type: ignore[attr-defined]
    with ServerSession(server) as session:
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        alice_accounts = set(session.exec(select(Account.id).where(Account.owner_id == alice_id)).all())
    cursor: Any = None
    seen: set[str] = set()
    while True:
        page = api.get(
            "/api/v1/sync/pull", params={"limit": 5000, **({"cursor": cursor} if cursor else {})}, headers=bruno
        ).json()
        for change in page["changes"]:
            row = change["row"] or {}
            seen.add(row.get("account_id") or (change["id"] if change["entity"] == "account" else ""))
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert seen and not (seen & alice_accounts)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_late_commit_is_never_skipped_by_the_cursor(api: TestClient, tmp_path: Path) -> None:
    """Two server transactions: the one that started first commits last; the device gets both."""
    device = _device(api, tmp_path)
    device.sign_in(username="alice", password="demo")
    device.sync()
    server = api.app.state.engine  # type: ignore[attr-defined]
    with ServerSession(server) as session:
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        first, second = session.exec(select(Account.id).where(Account.owner_id == alice_id).order_by(Account.name).limit(2)).all()
    early, late = ServerSession(server), ServerSession(server)
    try:
        slow = late.get(Account, first)
        assert slow is not None
        slow.notes = "written first, committed last"
        late.flush()  # the row is written and locked; the transaction stays open
        fast = early.get(Account, second)
        assert fast is not None
        fast.notes = "written second, committed first"
        early.commit()
        assert device.sync().upserts == 1  # the device's cursor moves past the early commit
        late.commit()
    finally:
        early.close()
        late.close()
    assert device.sync().upserts == 1
    with device.replica.connect() as conn:
        notes = dict(conn.execute(sa.select(Account.id, Account.notes).where(Account.id.in_([first, second]))).all())  # type: ignore[call-overload,attr-defined]
    assert notes == {first: "written first, committed last", second: "written second, committed first"}
