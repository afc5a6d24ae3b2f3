"""Pushing a device's outbox: at most once, one answer per change, field-by-field merge."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from app.edits import add_contact, edit_account, edit_contact, log_activity, pending_changes, resolve_conflict
from app.models import Account, Activity, Contact
from app.replica import open_replica
from server.db import ServerSession
from server.models import AuditEvent, ChangeLog, ProcessedMutation, User
from sync.engine import SyncEngine
from sync.errors import TransportError
from sync.state import OutboxEntry
from sync.wire import OLDEST_CLIENT_SCHEMA
from tests.conftest import ProxiedApi
from tests.faults import Cut


def _device(api: httpx.Client, tmp_path: Path, username: str, name: str | None = None) -> SyncEngine:
    device = SyncEngine(replica=open_replica(tmp_path / (name or username)), http=api)
    device.sign_in(username=username, password="demo")
    device.sync()
    return device


def _server(api: httpx.Client) -> Engine:
    return api.app.state.engine  # type: ignore[attr-defined,no-any-return]


def _an_account(api: httpx.Client, username: str) -> Account:
    with ServerSession(_server(api)) as session:
        owner = session.exec(select(User.id).where(User.username == username)).one()
        account = session.exec(select(Account).where(Account.owner_id == owner).order_by(Account.name)).first()
    assert account is not None
    return account


def _a_contact(api: httpx.Client, username: str) -> Contact:
    account = _an_account(api, username)
    with ServerSession(_server(api)) as session:
        contact = session.exec(select(Contact).where(Contact.account_id == account.id)).first()
    assert contact is not None
    return contact


def _count(engine: Engine, model: type, *where: object) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[call-overload]


def test_edits_made_offline_reach_the_server_and_leave_the_outbox(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path, "alice")
    account = _an_account(api, "alice")
    with Session(device.replica) as session:
        edit_account(
            session=session, account_id=account.id, changes={"notes": "Portail code 4521", "phone": "+33 4 78 00 00 00"}
        )
        contact_id = add_contact(
            session=session, fields={"account_id": account.id, "last_name": "Roux", "first_name": "Inès"}
        ).id
        log_activity(
            session=session,
            fields={
                "account_id": account.id,
                "kind": "call",
                "direction": "out",
                "occurred_at": "2026-11-20T09:15:00+01:00",
                "summary": "Rappel devis four",
            },
        )
        assert pending_changes(session=session)["pending"] == 3
    device.sync()
    with Session(device.replica) as session:
        assert pending_changes(session=session) == {"pending": 0, "rejected": [], "conflicts": []}
    with ServerSession(_server(api)) as session:
        stored = session.get(Account, account.id)
        assert stored is not None and (stored.notes, stored.phone, stored.version) == (
            "Portail code 4521",
            "+33 4 78 00 00 00",
            2,
        )
        new_contact = session.get(Contact, contact_id)
        assert new_contact is not None and new_contact.first_name == "Inès"
        call = session.exec(select(Activity).where(Activity.summary == "Rappel devis four")).one()
        assert call.occurred_at == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
        assert call.author_id == session.exec(select(User.id).where(User.username == "alice")).one()
    with device.replica.connect() as conn:
        assert conn.execute(sa.select(Account.version).where(Account.id == account.id)).scalar_one() == 2  # type: ignore[call-overload]


def test_a_retried_push_is_applied_once(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path, "alice")
    account = _an_account(api, "alice")
    with Session(device.replica) as session:
        add_contact(session=session, fields={"account_id": account.id, "last_name": "Once"})
        log_activity(
            session=session,
            fields={"account_id": account.id, "occurred_at": "2026-11-20T10:00:00Z", "summary": "Une fois"},
        )
    body = device.next_push()  # what the device sends; its answer will be "lost"
    assert len(body["mutations"]) == 2
    log_before = _count(_server(api), ChangeLog)
    headers = {"Authorization": f"Bearer {device._access_token}"}
    answers = [api.post("/api/v1/sync/push", json=body, headers=headers).json() for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    assert [r["status"] for r in answers[0]["results"]] == ["applied", "applied"]
    assert _count(_server(api), Contact, Contact.last_name == "Once") == 1
    assert _count(_server(api), Activity, Activity.summary == "Une fois") == 1
    assert _count(_server(api), ChangeLog) == log_before + 2
    device.sync()  # the device's own push of the same entries is acknowledged, not re-applied
    assert _count(_server(api), Contact, Contact.last_name == "Once") == 1
    with Session(device.replica) as session:
        assert pending_changes(session=session)["pending"] == 0


def test_one_invalid_mutation_among_500_is_rejected_and_the_other_499_apply(
    proxied_api: ProxiedApi, tmp_path: Path
) -> None:
    api = proxied_api
    device = _device(api, tmp_path, "alice")
    account = _an_account(api, "alice")
    with Session(device.replica) as session:
        for number in range(500):
            log_activity(
                session=session,
                fields={"account_id": account.id, "occurred_at": "2026-11-20T10:00:00Z", "summary": f"note {number}"},
            )
        # The 250th is spoiled after it was queued, as an older app version might have sent it.
        spoiled = session.exec(select(OutboxEntry).order_by(OutboxEntry.mid).offset(249)).first()  # type: ignore[arg-type]
        assert spoiled is not None
        spoiled.fields = {**spoiled.fields, "kind": "telepathy"}
        session.add(spoiled)
        session.commit()
    api.proxy.cut_next(Cut(response_bytes=60))  # the first answer is lost on the way back
    with pytest.raises(TransportError):
        device.push()
    report = device.push()
    assert (report.applied, report.rejected) == (499, 1)
    assert _count(_server(api), Activity, Activity.summary.like("note %")) == 499  # type: ignore[union-attr]
    # The push was applied again mutation by mutation once one failed: what the first go made
    # left nothing behind, neither in the change log nor in the audit log.
    notes = select(Activity.id).where(Activity.summary.like("note %"))  # type: ignore[union-attr]
    assert _count(_server(api), ChangeLog, col(ChangeLog.row_id).in_(notes)) == 499
    assert _count(_server(api), AuditEvent, col(AuditEvent.row_id).in_(notes), AuditEvent.count == 1) == 499
    pushed = AuditEvent.device_id == device.state()["device_id"], AuditEvent.entity == "activity"
    assert _count(_server(api), AuditEvent, *pushed) == 499  # and no event of many records
    with Session(device.replica) as session:
        changes = pending_changes(session=session)
    assert changes["pending"] == 0
    [rejected] = changes["rejected"]
    assert rejected["fields"]["summary"] == "note 249" and "kind" in rejected["reason"]


def test_two_devices_editing_different_fields_of_a_contact_both_win(proxied_api: ProxiedApi, tmp_path: Path) -> None:
    api = proxied_api
    contact = _a_contact(api, "alice")
    phone, laptop = _device(api, tmp_path, "alice", "phone"), _device(api, tmp_path, "alice", "laptop")
    with Session(phone.replica) as session:
        edit_contact(session=session, contact_id=contact.id, changes={"mobile": "+33 6 11 22 33 44"})
    with Session(laptop.replica) as session:
        edit_contact(session=session, contact_id=contact.id, changes={"hobbies": "voile, jazz"})
    phone.sync()
    laptop.sync()
    phone.sync()
    with ServerSession(_server(api)) as session:
        stored = session.get(Contact, contact.id)
        assert stored is not None and (stored.mobile, stored.hobbies) == ("+33 6 11 22 33 44", "voile, jazz")
    for device in (phone, laptop):
        with Session(device.replica) as session:
            local = session.get(Contact, contact.id)
            assert local is not None and (local.mobile, local.hobbies) == ("+33 6 11 22 33 44", "voile, jazz")
            assert pending_changes(session=session)["conflicts"] == []


def test_two_devices_editing_the_same_field_give_one_visible_conflict(proxied_api: ProxiedApi, tmp_path: Path) -> None:
    api = proxied_api
    contact = _a_contact(api, "alice")
    phone, laptop = _device(api, tmp_path, "alice", "phone"), _device(api, tmp_path, "alice", "laptop")
    with Session(phone.replica) as session:
        edit_contact(session=session, contact_id=contact.id, changes={"role": "Gérante"})
    with Session(laptop.replica) as session:
        edit_contact(session=session, contact_id=contact.id, changes={"role": "Directrice des achats"})
    phone.sync()
    api.proxy.cut_next(Cut(response_bytes=0))  # the laptop's push goes through, its answer does not
    with pytest.raises(TransportError):
        laptop.sync()
    laptop.sync()
    with Session(laptop.replica) as session:
        [conflict] = pending_changes(session=session)["conflicts"]
        assert (conflict["field"], conflict["server_value"], conflict["device_value"]) == (
            "role",
            "Gérante",
            "Directrice des achats",
        )
        local = session.get(Contact, contact.id)
        assert local is not None and local.role == "Gérante"  # the server's value stands until the rep picks
        resolve_conflict(session=session, conflict_id=conflict["id"], keep="device")
    laptop.sync()
    phone.sync()
    with ServerSession(_server(api)) as session:
        stored = session.get(Contact, contact.id)
        assert stored is not None and stored.role == "Directrice des achats"
    with Session(phone.replica) as session:
        assert session.get(Contact, contact.id).role == "Directrice des achats"  # type: ignore[union-attr]
        assert pending_changes(session=session)["conflicts"] == []


def test_a_devices_own_successive_edits_never_conflict(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path, "alice")
    account = _an_account(api, "alice")
    with Session(device.replica) as session:
        edit_account(session=session, account_id=account.id, changes={"notes": "premier jet"})
    device.push()  # sent, not yet pulled back: the replica still holds the old version
    with Session(device.replica) as session:
        edit_account(session=session, account_id=account.id, changes={"notes": "version finale"})
    device.sync()
    with Session(device.replica) as session:
        assert pending_changes(session=session) == {"pending": 0, "rejected": [], "conflicts": []}
    with ServerSession(_server(api)) as session:
        assert session.get(Account, account.id).notes == "version finale"  # type: ignore[union-attr]


def test_an_unsent_edit_stays_on_screen_when_the_server_sends_the_record(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path, "alice")
    account = _an_account(api, "alice")
    with Session(device.replica) as session:
        edit_account(session=session, account_id=account.id, changes={"notes": "pas encore envoyé"})
    manon = api.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "manon", "password": "demo", "device_id": "manon-desk-001"},
    )
    headers = {"Authorization": f"Bearer {manon.json()['access_token']}"}
    assert (
        api.patch(f"/api/v1/accounts/{account.id}", json={"website": "https://exemple.fr"}, headers=headers).status_code
        == 200
    )
    device.pull()
    with Session(device.replica) as session:
        local = session.get(Account, account.id)
        assert local is not None and (local.notes, local.website) == ("pas encore envoyé", "https://exemple.fr")


def test_a_rep_cannot_push_changes_to_another_reps_records(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path, "alice")
    theirs = _an_account(api, "bruno")
    bruno_contact = _a_contact(api, "bruno")
    body = {
        "client_id": device.state()["device_id"],
        "schema_version": 1,
        "mutations": [
            {
                "mid": 10_001,
                "entity": "account",
                "id": theirs.id,
                "op": "update",
                "base_version": 1,
                "fields": {"notes": "x"},
            },
            {
                "mid": 10_002,
                "entity": "contact",
                "id": bruno_contact.id,
                "op": "update",
                "base_version": 1,
                "fields": {"role": "x"},
            },
            {
                "mid": 10_003,
                "entity": "activity",
                "id": "0192f3e4-0000-7000-8000-000000000001",
                "op": "create",
                "fields": {"account_id": theirs.id, "occurred_at": "2026-11-20T10:00:00Z"},
            },
        ],
    }
    headers = {"Authorization": f"Bearer {device._access_token}"}
    results = api.post("/api/v1/sync/push", json=body, headers=headers).json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 3
    assert all("no longer yours" in r["reason"] or "not (or no longer) yours" in r["reason"] for r in results)
    with ServerSession(_server(api)) as session:
        assert session.get(Account, theirs.id).notes == theirs.notes  # type: ignore[union-attr]
    other_device = dict(body, client_id="someone-elses-device")
    assert api.post("/api/v1/sync/push", json=other_device, headers=headers).status_code == 403
    too_old = dict(body, schema_version=OLDEST_CLIENT_SCHEMA - 1)
    assert api.post("/api/v1/sync/push", json=too_old, headers=headers).status_code == 426
    assert _count(_server(api), ProcessedMutation, ProcessedMutation.mid > 10_000) == 3


def test_a_device_older_than_the_retention_resyncs_from_scratch_and_keeps_its_outbox(
    api: TestClient, tmp_path: Path
) -> None:
    from datetime import timedelta

    from server.compact import compact_change_log
    from tests.integration.test_sync_pull import _replica_rows, _scope_rows

    device = _device(api, tmp_path, "alice")
    account = _an_account(api, "alice")
    with ServerSession(_server(api)) as session:
        gone = session.exec(select(Activity).where(Activity.account_id == account.id)).first()
        assert gone is not None
        session.delete(gone)
        session.commit()
        removed = compact_change_log(session=session, older_than=timedelta(seconds=-1))  # everything so far
    assert removed > 0
    with Session(device.replica) as session:
        edit_account(session=session, account_id=account.id, changes={"notes": "écrit hors ligne"})
    headers = {"Authorization": f"Bearer {device._access_token}"}
    old_cursor = device.state()["cursor"]
    assert api.get("/api/v1/sync/pull", params={"cursor": old_cursor}, headers=headers).status_code == 410
    device.pull()  # 410, then a pull from scratch; the outbox is untouched
    with Session(device.replica) as session:
        assert pending_changes(session=session)["pending"] == 1
        assert session.get(Account, account.id).notes == "écrit hors ligne"  # type: ignore[union-attr]
        assert session.get(Activity, gone.id) is None
    device.sync()
    assert _replica_rows(device.replica) == _scope_rows(_server(api), "alice")
    with ServerSession(_server(api)) as session:
        assert session.get(Account, account.id).notes == "écrit hors ligne"  # type: ignore[union-attr]


def test_a_refused_change_shows_the_servers_record_and_waits_to_be_fixed_or_dismissed(
    api: TestClient, tmp_path: Path
) -> None:
    from app.edits import dismiss_rejected, resend_rejected
    from sync.state import queue_mutation

    device = _device(api, tmp_path, "alice")
    contact = _a_contact(api, "alice")
    account = _an_account(api, "alice")
    # Changes an older version of the app let through, that this server refuses.
    with Session(device.replica) as session:
        local = session.get(Contact, contact.id)
        assert local is not None
        local.email = "x" * 300
        queue_mutation(
            session,
            entity="contact",
            record_id=contact.id,
            op="update",
            base_version=local.version,
            fields={"email": "x" * 300},
        )
        session.add(local)
        queued = queue_mutation(
            session,
            entity="contact",
            record_id="0192f000-0000-7000-8000-0000000000c1",
            op="create",
            fields={"account_id": account.id, "last_name": "L" * 300},
        )
        session.add(Contact(id=queued.record_id, account_id=account.id, last_name="L" * 300))
        session.commit()
        created_id = queued.record_id
    device.sync()
    with Session(device.replica) as session:
        shown = session.get(Contact, contact.id)
        assert shown is not None and shown.email == contact.email  # the server's value, at once
        refused = pending_changes(session=session)["rejected"]
    assert [(r["op"], r["id"]) for r in refused] == [("update", contact.id), ("create", created_id)]
    assert all("at most" in r["reason"] for r in refused)
    # The rep corrects the e-mail and sends it again; drops the other.
    with Session(device.replica) as session:
        resend_rejected(session=session, mid=refused[0]["mid"], fields={"email": "achats@example.fr"})
        dismiss_rejected(session=session, mid=refused[1]["mid"])
        assert session.get(Contact, created_id) is None  # never reached the server: gone
    device.sync()
    with Session(device.replica) as session:
        assert pending_changes(session=session) == {"pending": 0, "rejected": [], "conflicts": []}
    with ServerSession(_server(api)) as session:
        stored = session.get(Contact, contact.id)
        assert stored is not None and stored.email == "achats@example.fr"
        assert session.get(Contact, created_id) is None


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_the_servers_postgresql_connections_plan_each_execution_for_its_values(server_engine: Engine) -> None:
    """No generic plan kept from a table's statistics of the moment a statement was prepared
    (bench/load.py: the push's read of field changes, prepared while the table was empty, ran
    as a 6-25 ms sequential scan as it grew, where its index answers in 0.01 ms)."""
    from server.push import _FIELD_LOG

    with server_engine.connect() as conn:
        for _ in range(12):  # psycopg prepares it at the 5th; PostgreSQL may go generic at the 5th after
            conn.execute(_FIELD_LOG, {"entities": ["account"], "ids": ["a", "b"]}).all()
        plans = sa.text("SELECT sum(generic_plans), sum(custom_plans) FROM pg_prepared_statements")
        generic, custom = conn.execute(plans).one()
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
        assert (generic, custom) == (0, 7)
