"""Pulling a rep's scope into a real replica file, on SQLite and on PostgreSQL servers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import select

from app.models import ENTITIES, Account, entity_table
from app.replica import open_replica
from server.db import ServerSession
from server.models import User
from sync.engine import PullProgress, SyncEngine
from sync.wire import PullPage
from tests.conftest import ProxiedApi, sign_in


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


def _records(page: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every upserted record of a pulled page, whether sent one by one or in batches."""
    for change in page["changes"]:
        if "rows" in change:
            for values in change["rows"]:
                yield change["entity"], dict(zip(change["columns"], values, strict=True))
        elif change["row"] is not None:
            yield change["entity"], change["row"]


def _device(api: httpx.Client, tmp_path: Path, name: str = "device") -> SyncEngine:
    return SyncEngine(replica=open_replica(tmp_path / name), http=api)


def test_a_first_pull_brings_exactly_the_reps_scope(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path)
    device.sign_in(username="alice", password="demo")
    report = device.sync().pulled
    server = api.app.state.engine  # type: ignore[attr-defined]
    expected = _scope_rows(server, "alice")
    assert _replica_rows(device.replica) == expected
    assert report.upserts == sum(len(rows) for rows in expected.values())
    assert len(expected["account"]) == 110 and len(expected["order_line"]) > 1000
    assert device.state()["cursor"] == report.cursor


@pytest.mark.parametrize("account_batch", [7, 500])
def test_small_pages_give_the_same_replica_as_one_big_page(
    api: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account_batch: int
) -> None:
    import server.pull

    # Pages that stop mid-account, mid-batch of accounts, and between entities.
    monkeypatch.setattr(server.pull, "ACCOUNT_BATCH", account_batch)
    small = _device(api, tmp_path, "small")
    small.sign_in(username="bruno", password="demo")
    report = small.pull(page_size=37)
    assert report.pages > 100
    assert _replica_rows(small.replica) == _scope_rows(api.app.state.engine, "bruno")  # type: ignore[attr-defined]
    big = _device(api, tmp_path, "big")
    big.sign_in(username="bruno", password="demo")
    big.pull(page_size=5000)
    assert _replica_rows(small.replica) == _replica_rows(big.replica)


def test_a_pull_cut_midway_keeps_the_old_cursor_and_resumes_without_loss(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path)
    device.sign_in(username="chloe", password="demo")

    class Cut(Exception):
        pass

    seen: list[PullProgress] = []

    def cut_after_three_pages(step: PullProgress) -> None:
        seen.append(step)
        if step.pages == 3:
            raise Cut

    with pytest.raises(Cut):
        device.pull(on_page=cut_after_three_pages, page_size=200)
    # Progress counts what was applied, of the total the server announced on the first page.
    total = sum(len(rows) for rows in _scope_rows(api.app.state.engine, "chloe").values())  # type: ignore[attr-defined]
    assert seen == [PullProgress(n, 200 * n, total) for n in (1, 2, 3)]
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
    report = device.sync().pulled
    assert (report.upserts, report.deletes, report.purges) == (1, 0, 0)
    with device.replica.connect() as conn:
        notes, version = conn.execute(sa.select(Account.notes, Account.version).where(Account.id == mine.id)).one()  # type: ignore[call-overload]
        assert conn.execute(sa.select(Account.id).where(Account.id == theirs.id)).first() is None  # type: ignore[call-overload]
    assert (notes, version) == ("Nouveau code portail : 4521", 2)
    assert device.sync().pulled.upserts == 0


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
    report = device.sync().pulled
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
        PullPage.model_validate(page)  # the documented shape
        for entity, row in _records(page):
            seen.add(row.get("account_id") or (row["id"] if entity == "account" else ""))
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert seen and not (seen & alice_accounts)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_late_commit_is_never_skipped_by_the_cursor(proxied_api: ProxiedApi, tmp_path: Path) -> None:
    """Two server transactions: the one that started first commits last; the device gets both."""
    api = proxied_api
    device = _device(api, tmp_path)
    device.sign_in(username="alice", password="demo")
    device.sync()
    server = api.app.state.engine  # type: ignore[attr-defined]
    with ServerSession(server) as session:
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        first, second = session.exec(
            select(Account.id).where(Account.owner_id == alice_id).order_by(Account.name).limit(2)
        ).all()
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
        assert device.sync().pulled.upserts == 1  # the device's cursor moves past the early commit
        late.commit()
    finally:
        early.close()
        late.close()
    assert device.sync().pulled.upserts == 1
    with device.replica.connect() as conn:
        notes = dict(conn.execute(sa.select(Account.id, Account.notes).where(Account.id.in_([first, second]))).all())  # type: ignore[call-overload,attr-defined]
    assert notes == {first: "written first, committed last", second: "written second, committed first"}


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_entries_written_first_and_committed_last_are_numbered_last_with_their_owner_at_commit(
    demo_engine: Engine,
) -> None:
    """PostgreSQL numbers change-log entries as their transaction commits (migration 0014): a
    transaction whose entries are already in the log when two others commit (an edit; an
    account moved to bruno) is numbered after both, and its new contact under the moved account
    is logged for bruno, who owns the account when it commits."""
    from app.models import Contact
    from server.reassign import reassign_account

    server = demo_engine
    edited, moved, other = (
        a.id
        for a in ServerSession(server)
        .exec(select(Account).where(Account.owner_id == _user_id(server, "alice")).order_by(Account.name).limit(3))
        .all()
    )
    late = ServerSession(server)
    in_log_before_commit: list[int] = []

    def others_commit(session: Any) -> None:
        if session is not late:
            return
        # The change log's writer has run: this transaction's entries wait for its commit.
        count = sa.text("SELECT count(*) FROM change_log_pending")
        in_log_before_commit.append(session.connection().execute(count).scalar_one())
        with ServerSession(server) as early:
            early.connection().exec_driver_sql("SET lock_timeout = '10s'")  # a regression fails, not hangs
            account = early.get(Account, other)
            assert account is not None
            account.notes = "committed second, written second"
            early.commit()
            account = early.get(Account, moved)
            assert account is not None
            reassign_account(session=early, account=account, owner_id=_user_id(server, "bruno"))
            early.commit()

    sa_event.listen(ServerSession, "before_commit", others_commit)  # after the change log's writer
    try:
        account = late.get(Account, edited)
        assert account is not None
        account.notes = "written first, committed last"
        newcomer = Contact(account_id=moved, last_name="Arrivée-Pendant")
        newcomer_id = newcomer.id
        late.add(newcomer)
        late.commit()
    finally:
        sa_event.remove(ServerSession, "before_commit", others_commit)
        late.close()
    assert in_log_before_commit == [2]
    with server.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM change_log_pending")).scalar_one() == 0
        log = {
            row_id: (seq, owner)
            for seq, row_id, owner in conn.execute(
                sa.text("SELECT seq, row_id, owner_id FROM change_log WHERE row_id IN (:a, :b, :c, :d) ORDER BY seq"),
                {"a": edited, "b": newcomer_id, "c": other, "d": moved},
            )
        }
    # (each record's last entry)
    assert min(log[edited][0], log[newcomer_id][0]) > max(log[other][0], log[moved][0])
    assert log[newcomer_id][1] == _user_id(server, "bruno")


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_commit_waits_while_the_change_log_lock_is_held(demo_engine: Engine) -> None:
    """Compaction, backups and reassignments hold the lock so that no entry is numbered meanwhile:
    the database's numbering at COMMIT takes that same lock."""
    from server.db import lock_change_log

    with ServerSession(demo_engine) as holder, ServerSession(demo_engine) as writer:
        lock_change_log(holder)
        writer.connection().exec_driver_sql("SET lock_timeout = '1s'")
        account = writer.exec(select(Account).limit(1)).one()
        account.notes = "waits for the lock"
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            writer.commit()
        writer.rollback()
        holder.rollback()
        account = writer.exec(select(Account).where(Account.id == account.id)).one()
        account.notes = "goes through once it is free"
        writer.commit()


@pytest.mark.postgres
def test_a_database_not_yet_at_revision_0014_is_logged_as_before(pg_database: str) -> None:
    """A server whose database is not migrated yet (`serve --no-migrate` during an upgrade)
    numbers and owns its entries itself, under the lock; once migrated, a new engine leaves it
    to the database at commit. Either way each entry has its account's owner."""
    from app.models import Contact
    from server.db import make_engine
    from server.migrate import upgrade
    from server.models import ChangeLog

    def add_contact(engine: Engine, account_id: str) -> tuple[str | None, int]:
        """The new entry's owner, and whether the change-log lock was held before COMMIT."""
        locks: list[int] = []
        held = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")

        def before_commit(committing: Any) -> None:
            if committing is session:
                locks.append(committing.connection().execute(held).scalar_one())

        with ServerSession(engine) as session:
            contact = Contact(account_id=account_id, last_name="Nouveau")
            session.add(contact)
            sa_event.listen(ServerSession, "before_commit", before_commit)  # after the change log's writer
            try:
                session.commit()
            finally:
                sa_event.remove(ServerSession, "before_commit", before_commit)
            entry = session.exec(select(ChangeLog).where(ChangeLog.row_id == contact.id)).one()
        return entry.owner_id, locks[0]

    older = make_engine(pg_database)
    upgrade(older, "0013")
    with ServerSession(older) as session:
        rep = User(username="rita", full_name="Rita", role="rep", password_hash="x")
        session.add(rep)
        session.flush()
        account = Account(name="Avant", owner_id=rep.id)
        session.add(account)
        session.commit()
        rep_id, account_id = rep.id, account.id
    assert add_contact(older, account_id) == (rep_id, 1)
    upgrade(older)  # migrated while this engine serves: it keeps its own way, which stays right
    assert add_contact(older, account_id) == (rep_id, 1)
    newer = make_engine(pg_database)
    try:
        assert add_contact(newer, account_id) == (rep_id, 0)  # the lock is taken in the COMMIT
        with newer.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM change_log_pending")).scalar_one() == 0
    finally:
        older.dispose()
        newer.dispose()


def _user_id(server: Engine, username: str) -> str:
    with ServerSession(server) as session:
        return session.exec(select(User.id).where(User.username == username)).one()


def _first_account_of(server: Engine, username: str) -> Account:
    with ServerSession(server) as session:
        account = session.exec(
            select(Account).where(Account.owner_id == _user_id(server, username)).order_by(Account.name)
        ).first()
    assert account is not None
    return account


def _reassign(api: TestClient, account_id: str, username: str) -> None:
    """The manager gives the account to `username`."""
    owner_id = _user_id(api.app.state.engine, username)  # type: ignore[attr-defined]
    response = api.post(
        f"/api/v1/accounts/{account_id}/reassign", json={"owner_id": owner_id}, headers=sign_in(api, "manon")
    )
    assert response.status_code == 200, response.text


def _manager_scope(server: Engine) -> dict[str, set[tuple[str, int]]]:
    merged: dict[str, set[tuple[str, int]]] = {name: set() for name in ENTITIES}
    for rep in ("alice", "bruno", "chloe"):
        for name, rows in _scope_rows(server, rep).items():
            merged[name] |= rows
    return merged


def test_a_managers_device_keeps_an_account_moved_between_two_reps_of_the_team(api: TestClient, tmp_path: Path) -> None:
    manager_device = _device(api, tmp_path, "manon")
    manager_device.sign_in(username="manon", password="demo")
    manager_device.sync()
    server = api.app.state.engine  # type: ignore[attr-defined]
    moved = _first_account_of(server, "alice")
    _reassign(api, moved.id, "bruno")
    manager_device.sync()
    assert _replica_rows(manager_device.replica) == _manager_scope(server)
    with manager_device.replica.connect() as conn:
        assert conn.execute(
            sa.text("SELECT owner_id FROM account WHERE id = :a"), {"a": moved.id}
        ).scalar_one() == _user_id(server, "bruno")


def test_an_account_given_away_and_back_loses_on_the_device_what_was_deleted_meanwhile(
    api: TestClient, tmp_path: Path
) -> None:
    from app.models import Activity

    device = _device(api, tmp_path, "alice")
    device.sign_in(username="alice", password="demo")
    device.sync()
    server = api.app.state.engine  # type: ignore[attr-defined]
    account = _first_account_of(server, "alice")
    _reassign(api, account.id, "bruno")
    with ServerSession(server) as session:
        activity = session.exec(select(Activity).where(Activity.account_id == account.id)).first()
        assert activity is not None
        session.delete(activity)
        session.commit()
    _reassign(api, account.id, "alice")
    device.sync()
    assert _replica_rows(device.replica) == _scope_rows(server, "alice")
    with device.replica.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM activity WHERE id = :a"), {"a": activity.id}).scalar_one() == 0
        )


def test_deleting_an_order_deletes_its_lines_on_the_device_too(api: TestClient, tmp_path: Path) -> None:
    from app.models import Invoice, Order, OrderLine, Payment

    device = _device(api, tmp_path)
    device.sign_in(username="alice", password="demo")
    device.sync()
    server = api.app.state.engine  # type: ignore[attr-defined]
    with ServerSession(server) as session:
        order = session.exec(
            select(Order)
            .join(Account, Account.id == Order.account_id)
            .where(Account.owner_id == _user_id(server, "alice"))  # type: ignore[arg-type]
        ).first()
        assert order is not None
        line_count = len(session.exec(select(OrderLine).where(OrderLine.order_id == order.id)).all())
        # Its invoice and payments go first: they are not deleted with it.
        invoice = session.exec(select(Invoice).where(Invoice.order_id == order.id)).one()
        payments = session.exec(select(Payment).where(Payment.invoice_id == invoice.id)).all()
        for payment in payments:
            session.delete(payment)
        session.flush()
        session.delete(invoice)
        session.flush()
        session.delete(order)
        session.commit()
    report = device.sync().pulled
    assert report.deletes == len(payments) + 1 + 1 + line_count
    assert _replica_rows(device.replica) == _scope_rows(server, "alice")


def test_a_bulk_update_that_would_bypass_the_change_log_is_refused(api: TestClient) -> None:
    from app.models import Contact

    server = api.app.state.engine  # type: ignore[attr-defined]
    with ServerSession(server) as session, pytest.raises(RuntimeError, match="bypass the change log"):
        session.exec(sa.update(Contact).values(notes="x"))  # type: ignore[call-overload]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_record_added_while_its_account_is_reassigned_reaches_the_new_owner(api: TestClient, tmp_path: Path) -> None:
    from app.models import Contact
    from server.reassign import reassign_account

    server = api.app.state.engine  # type: ignore[attr-defined]
    bruno_device = _device(api, tmp_path, "bruno")
    bruno_device.sign_in(username="bruno", password="demo")
    bruno_device.sync()
    account = _first_account_of(server, "alice")
    adding, moving = ServerSession(server), ServerSession(server)
    try:
        newcomer = Contact(account_id=account.id, last_name="Arrivée-Pendant")
        newcomer_id = newcomer.id
        adding.add(newcomer)
        adding.flush()  # written, not committed: the reassignment below cannot see it
        moved = moving.get(Account, account.id)
        assert moved is not None
        reassign_account(session=moving, account=moved, owner_id=_user_id(server, "bruno"))
        moving.flush()
        # The contact's transaction commits while the reassignment is still open...
        committer = threading.Thread(target=adding.commit)
        committer.start()
        committer.join(1.0)
        # ...and the reassignment commits a moment later.
        moving.commit()
        committer.join(30)
        assert not committer.is_alive()
    finally:
        adding.close()
        moving.close()
    bruno_device.sync()
    assert _replica_rows(bruno_device.replica) == _scope_rows(server, "bruno")
    with bruno_device.replica.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM contact WHERE id = :c"), {"c": newcomer_id}).scalar_one() == 1


def test_times_dates_and_json_arrive_exactly_as_the_server_has_them(api: TestClient, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from sqlmodel import Session

    from app.models import Contact, Order

    server = api.app.state.engine  # type: ignore[attr-defined]
    with ServerSession(server) as session:
        order = session.exec(select(Order).join(Account).where(Account.owner_id == _user_id(server, "alice"))).first()
        assert order is not None
        order.ordered_at = datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=UTC)  # a DST night, microseconds
        contact = session.exec(select(Contact).where(Contact.account_id == order.account_id)).first()
        assert contact is not None
        contact.social_profiles = {"linkedin": "https://example.com/in/é"}
        session.commit()
        expected = {
            "ordered_at": order.ordered_at,
            "updated_at": order.updated_at,
            "birthday": contact.birthday,
            "social": contact.social_profiles,
        }
        order_id, contact_id = order.id, contact.id
    for first_pull in (True, False):  # a snapshot, then the same rows through the change log
        device = _device(api, tmp_path, f"times-{first_pull}")
        device.sign_in(username="alice", password="demo")
        if not first_pull:
            device.sync()
            with ServerSession(server) as session:
                changed = session.get(Order, order_id)
                assert changed is not None
                changed.status = "invoiced"
                session.commit()
                expected["updated_at"] = changed.updated_at
        device.sync()
        with Session(device.replica) as session:
            local_order = session.get(Order, order_id)
            local_contact = session.get(Contact, contact_id)
            assert local_order is not None and local_contact is not None
            assert local_order.ordered_at == expected["ordered_at"]
            assert local_order.updated_at == expected["updated_at"]
            assert local_contact.birthday == expected["birthday"]
            assert local_contact.social_profiles == expected["social"]
