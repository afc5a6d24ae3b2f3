"""The reminder rules on a real replica of the demo company: reminders made once, synced, made
once for two devices of the same rep, and done or snoozed on the device reaching the server."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.edits import pending_changes, update_record
from app.i18n import Translator
from app.models import Reminder
from app.reminders import apply_reminder_rules, follow_up_reminder
from app.replica import open_replica
from sync.engine import SyncEngine
from tests.conftest import DEMO_DAY

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(DEMO_DAY.year, DEMO_DAY.month, DEMO_DAY.day, 7, 30, tzinfo=UTC)  # 08:30 in Paris


def _device(api: TestClient, path: Path) -> SyncEngine:
    device = SyncEngine(replica=open_replica(path), http=api)
    device.sign_in(username="alice", password="demo")
    device.sync()
    return device


def _apply(device: SyncEngine) -> list[Reminder]:
    with Session(device.replica) as session:
        return apply_reminder_rules(
            session=session,
            now=NOW,
            zone=PARIS,
            owner_id=device.state()["user_id"],
            describe=Translator("fr").reminder_reason,
        )


def test_rules_make_each_reminder_once_and_two_devices_make_the_same_one(api: TestClient, tmp_path: Path) -> None:
    phone = _device(api, tmp_path / "phone")
    with Session(phone.replica) as session:
        before = {r.id for r in session.exec(select(Reminder))}
    made = _apply(phone)
    rules = Counter(r.rule for r in made)
    # The demo has overdue invoices and accounts that stopped ordering, on alice's book.
    assert rules["overdue_invoice"] > 0 and rules["reorder_overdue"] > 0
    assert all(r.due_at <= NOW + timedelta(hours=2) for r in made)  # 09:00 in Paris at the latest
    assert all(r.reason and r.owner_id == phone.state()["user_id"] for r in made)
    assert _apply(phone) == []  # once
    # The server's own competitor reminders (the demo's) are not made again.
    with Session(phone.replica) as session:
        competitor = session.exec(select(Reminder).where(Reminder.rule == "competitor_contract_end")).all()
        assert len({(r.account_id, r.due_at) for r in competitor}) == len(competitor)
    phone.sync()
    server = api.app.state.engine  # type: ignore[attr-defined]
    with Session(server) as session:
        on_server = {r.id for r in session.exec(select(Reminder).where(col(Reminder.id).in_([r.id for r in made])))}
    assert on_server == {r.id for r in made}

    # alice's laptop, offline and unaware of the phone's push, makes the very same reminders.
    laptop = SyncEngine(replica=open_replica(tmp_path / "laptop"), http=api)
    laptop.sign_in(username="alice", password="demo")
    laptop_made = {r.id for r in _apply(_without_phone_reminders(laptop, {r.id for r in made}))}
    assert laptop_made == {r.id for r in made}
    laptop.sync()
    with Session(server) as session:
        rows = session.exec(select(Reminder.id).where(col(Reminder.id).in_(laptop_made))).all()
    assert sorted(rows) == sorted(laptop_made)  # one each on the server, not two
    assert before.isdisjoint(laptop_made)
    with Session(laptop.replica) as session:
        changes = pending_changes(session=session)
    assert changes["pending"] == 0 and changes["rejected"] == []  # acknowledged, not refused


def _without_phone_reminders(laptop: SyncEngine, ids: set[str]) -> SyncEngine:
    """The laptop synced before the phone pushed: its replica lacks the phone's reminders."""
    laptop.sync()
    with Session(laptop.replica) as session:
        for reminder in session.exec(select(Reminder).where(col(Reminder.id).in_(ids))):
            session.delete(reminder)
        session.commit()
    return laptop


def test_done_and_snoozed_reach_the_server_and_a_follow_up_is_made_once(api: TestClient, tmp_path: Path) -> None:
    phone = _device(api, tmp_path / "phone")
    made = _apply(phone)
    done, snoozed = made[0], made[1]
    with Session(phone.replica) as session:
        update_record(session=session, entity="reminder", record_id=done.id, changes={"done": True, "done_at": NOW})
        until = NOW + timedelta(days=2)
        update_record(session=session, entity="reminder", record_id=snoozed.id, changes={"snoozed_until": until})
        visit_account = done.account_id
        first = follow_up_reminder(
            session=session,
            visit_id="0192f000-0000-7000-8000-00000000f011",
            account_id=visit_account,
            contact_id=None,
            follow_up_on=DEMO_DAY + timedelta(days=14),
            zone=PARIS,
            owner_id=phone.state()["user_id"],
            reason="Rappeler après la démonstration",
        )
        again = follow_up_reminder(
            session=session,
            visit_id="0192f000-0000-7000-8000-00000000f011",
            account_id=visit_account,
            contact_id=None,
            follow_up_on=DEMO_DAY + timedelta(days=14),
            zone=PARIS,
            owner_id=phone.state()["user_id"],
            reason="Rappeler après la démonstration",
        )
    assert first.id == again.id
    assert first.due_at == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # 09:00 in Paris, 14 days on
    phone.sync()
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        stored_done = session.get(Reminder, done.id)
        stored_snoozed = session.get(Reminder, snoozed.id)
        follow_up = session.get(Reminder, first.id)
    assert stored_done is not None and stored_done.done and stored_done.done_at == NOW
    assert stored_snoozed is not None and stored_snoozed.snoozed_until == NOW + timedelta(days=2)
    assert follow_up is not None and follow_up.rule == "visit_follow_up"


def test_the_today_list_names_each_reminders_customer_and_another_day_lists_its_own(
    api: TestClient, tmp_path: Path
) -> None:
    from app.models import Account
    from app.services import Device

    phone = _device(api, tmp_path / "phone")
    device = Device(tmp_path / "phone", phone.replica, phone)
    listed = device.reminders_due(NOW, PARIS)  # the rules run first, then the list is read
    assert listed and all(r.due_at <= NOW + timedelta(hours=2) for r in listed)
    with Session(phone.replica) as session:
        names = {a.id: a.name for a in session.exec(select(Account))}
    assert all(r.account_name == names[r.account_id] for r in listed)
    assert _apply(phone) == []  # nothing new: each rule's reminder is made once
    tomorrow = device.reminders_on(DEMO_DAY + timedelta(days=1), PARIS)
    assert {r.id for r in tomorrow}.isdisjoint({r.id for r in listed})
