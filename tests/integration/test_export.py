"""The agenda as an iCalendar file and the contacts as vCard 3.0, from a replica synced from the
demo company, read back with icalendar and vobject as a phone's own apps would read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import vobject  # type: ignore[import-untyped]
from icalendar import Calendar, Event
from sqlmodel import Session, select

from app.export import agenda_ics, contacts_vcard
from app.models import Account, Contact, Visit
from sync.engine import SyncEngine
from tests.conftest import DEMO_DAY
from tests.integration.test_cli import terrain

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _events_by_visit(ics: bytes) -> dict[str, Event]:
    calendar = Calendar.from_ical(ics)
    events: dict[str, Event] = {}
    for event in calendar.events:
        uid = str(event["UID"])
        assert uid.endswith("@terrain") and uid.removesuffix("@terrain") not in events
        events[uid.removesuffix("@terrain")] = event
    return events


def _cards_by_contact(vcard: str) -> dict[str, vobject.base.Component]:
    cards = {}
    for card in vobject.readComponents(vcard):
        assert card.version.value == "3.0" and card.uid.value not in cards
        cards[card.uid.value] = card
    return cards


def _is_utc(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def test_the_calendar_holds_every_visit_at_its_times_and_a_cancelled_one_as_cancelled(alice: SyncEngine) -> None:
    with Session(alice.replica) as session:
        planned = session.exec(select(Visit).where(Visit.status == "planned").order_by(Visit.starts_at)).first()
        assert planned is not None
        planned.status = "cancelled"
        session.add(planned)
        session.commit()
        cancelled_id = planned.id

    with Session(alice.replica) as session:
        visits = {v.id: v for v in session.exec(select(Visit))}
        accounts = {a.id: a for a in session.exec(select(Account))}
        contacts = {c.id: c for c in session.exec(select(Contact))}
        ics = agenda_ics(session=session, calendar_name="Agenda d'alice")
    assert len(visits) > 100 and {v.status for v in visits.values()} >= {"planned", "done", "cancelled"}

    calendar = Calendar.from_ical(ics)
    assert str(calendar["VERSION"]) == "2.0" and str(calendar["PRODID"]).startswith("-//Terrain//")
    assert str(calendar["X-WR-CALNAME"]) == "Agenda d'alice"
    events = _events_by_visit(ics)
    assert events.keys() == visits.keys()
    for visit_id, event in events.items():
        visit, account = visits[visit_id], accounts[visits[visit_id].account_id]
        assert _is_utc(event.start) and _is_utc(event.end) and _is_utc(event["DTSTAMP"].dt)
        assert (event.start, event.end) == (visit.starts_at, visit.ends_at)
        assert event["LAST-MODIFIED"].dt == visit.updated_at.replace(microsecond=0)
        assert str(event["SUMMARY"]).startswith(account.name)
        if visit.purpose:
            assert str(event["SUMMARY"]) == f"{account.name} — {visit.purpose}"
        assert str(event["STATUS"]) == ("CANCELLED" if visit.id == cancelled_id else "CONFIRMED")
        assert str(event["LOCATION"]) == f"{account.billing_street}, {account.billing_postcode} {account.billing_city}"
        assert event["GEO"].latitude == pytest.approx(account.billing_lat)
        assert event["GEO"].longitude == pytest.approx(account.billing_lon)
        description = str(event.get("DESCRIPTION", ""))
        if visit.contact_id is not None:
            contact = contacts[visit.contact_id]
            assert f"{contact.first_name} {contact.last_name}" in description
            assert all(phone in description for phone in (contact.phone, contact.mobile) if phone)
        for written in (visit.report_notes, visit.next_steps):
            assert written is None or written in description


def test_a_period_keeps_the_visits_whose_utc_day_falls_in_it(alice: SyncEngine) -> None:
    first, last = DEMO_DAY, DEMO_DAY + timedelta(days=6)
    with Session(alice.replica) as session:
        account = session.exec(select(Account).order_by(Account.name)).first()
        assert account is not None
        # 23:30 UTC on the last day is already the next day in Paris: still in, the period is in UTC days.
        late = Visit(
            account_id=account.id,
            starts_at=datetime(last.year, last.month, last.day, 23, 30, tzinfo=UTC),
            ends_at=datetime(last.year, last.month, last.day, 23, 59, tzinfo=UTC),
        )
        early_next = Visit(
            account_id=account.id,
            starts_at=datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1),
            ends_at=datetime(last.year, last.month, last.day, 1, tzinfo=UTC) + timedelta(days=1),
        )
        session.add_all([late, early_next])
        session.commit()
        expected = {v.id for v in session.exec(select(Visit)) if first <= v.starts_at.astimezone(UTC).date() <= last}
        events = _events_by_visit(agenda_ics(session=session, start=first, end=last))
        from_only = _events_by_visit(agenda_ics(session=session, start=last + timedelta(days=1)))
    assert late.id in expected and early_next.id not in expected and len(expected) > 5
    assert events.keys() == expected
    assert early_next.id in from_only and late.id not in from_only


def test_the_vcard_gives_back_every_contact_s_names_phones_and_emails(alice: SyncEngine) -> None:
    with Session(alice.replica) as session:
        contacts = session.exec(select(Contact)).all()
        accounts = {a.id: a for a in session.exec(select(Account))}
        vcard = contacts_vcard(session=session)
    assert len(contacts) > 100

    cards = _cards_by_contact(vcard)
    assert cards.keys() == {c.id for c in contacts}
    for contact in contacts:
        card = cards[contact.id]
        assert card.fn.value == f"{contact.first_name} {contact.last_name}"
        assert (card.n.value.family, card.n.value.given) == (contact.last_name, contact.first_name)
        assert card.org.value == [accounts[contact.account_id].name]
        phones = {tel.params["TYPE"][0]: tel.value for tel in card.contents.get("tel", [])}
        assert phones == {
            kind: number for kind, number in (("WORK", contact.phone), ("CELL", contact.mobile)) if number
        }
        assert [(e.value, e.params["TYPE"]) for e in card.contents.get("email", [])] == [(contact.email, ["INTERNET"])]
        assert [t.value for t in card.contents.get("title", [])] == ([contact.role] if contact.role else [])
        assert [b.value for b in card.contents.get("bday", [])] == (
            [contact.birthday.isoformat()] if contact.birthday else []
        )
        assert contact.responsiveness is None or contact.responsiveness in card.note.value


def test_terrain_export_writes_files_that_parse_back_and_says_how_many(alice: SyncEngine, tmp_path: Path) -> None:
    with Session(alice.replica) as session:
        visit_ids = {v.id for v in session.exec(select(Visit))}
        week = {
            v.id for v in session.exec(select(Visit)) if DEMO_DAY <= v.starts_at.date() <= DEMO_DAY + timedelta(days=6)
        }
        contact_ids = {c.id for c in session.exec(select(Contact))}
    data_dir = tmp_path / "alice"

    ics = terrain("export", "ics", "--out", str(tmp_path / "agenda.ics"), data_dir=data_dir)
    assert ics.returncode == 0, ics.stderr
    assert ics.stdout == "" and f"wrote {len(visit_ids)} visits to " in ics.stderr
    assert _events_by_visit((tmp_path / "agenda.ics").read_bytes()).keys() == visit_ids

    to = (DEMO_DAY + timedelta(days=6)).isoformat()
    week_ics = terrain("export", "ics", "--from", DEMO_DAY.isoformat(), "--to", to, data_dir=data_dir)
    assert week_ics.returncode == 0, week_ics.stderr
    assert _events_by_visit(week_ics.stdout.encode()).keys() == week

    vcard = terrain("export", "vcard", "--out", str(tmp_path / "contacts.vcf"), data_dir=data_dir)
    assert vcard.returncode == 0, vcard.stderr
    assert f"wrote {len(contact_ids)} contacts to " in vcard.stderr
    assert _cards_by_contact((tmp_path / "contacts.vcf").read_text()).keys() == contact_ids
    on_stdout = terrain("export", "vcard", data_dir=data_dir)
    assert on_stdout.returncode == 0 and on_stdout.stdout == (tmp_path / "contacts.vcf").read_text()


def test_an_export_into_a_missing_directory_fails_with_exit_2_and_one_readable_line(
    alice: SyncEngine, tmp_path: Path
) -> None:
    for kind, name in (("ics", "agenda.ics"), ("vcard", "contacts.vcf")):
        out = tmp_path / "nowhere" / name
        failed = terrain("export", kind, "--out", str(out), data_dir=tmp_path / "alice")
        assert failed.returncode == 2 and failed.stdout == ""
        assert failed.stderr == f"error: cannot write {out}: No such file or directory\n"
        assert not out.parent.exists()
    backwards = terrain("export", "ics", "--from", "2026-11-20", "--to", "2026-11-19", data_dir=tmp_path / "alice")
    assert backwards.returncode == 2 and backwards.stderr == "error: the period ends before it starts\n"


def test_a_contact_with_only_a_last_name_and_an_account_with_no_address_export_without_empty_fields(
    alice: SyncEngine,
) -> None:
    with Session(alice.replica) as session:
        account = session.exec(select(Account).order_by(Account.name)).first()
        assert account is not None
        # Commas and semicolons are separators in both formats: the name must come back whole.
        account.name = "Dupont, Fils & Cie; Lyon"
        account.billing_street = account.billing_postcode = account.billing_city = None
        account.billing_lat = account.billing_lon = None
        contact = Contact(account_id=account.id, last_name="Sans-Prénom")
        visit = Visit(
            account_id=account.id,
            contact_id=contact.id,
            starts_at=datetime(2026, 11, 20, 9, tzinfo=UTC),
            ends_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
        )
        session.add_all([account, contact, visit])
        session.commit()
        event = _events_by_visit(agenda_ics(session=session))[visit.id]
        card = _cards_by_contact(contacts_vcard(session=session))[contact.id]

    assert str(event["SUMMARY"]) == "Dupont, Fils & Cie; Lyon"
    assert str(event["DESCRIPTION"]) == "Contact : Sans-Prénom"
    assert "LOCATION" not in event and "GEO" not in event
    assert card.fn.value == "Sans-Prénom" and (card.n.value.family, card.n.value.given) == ("Sans-Prénom", "")
    assert card.org.value == ["Dupont, Fils & Cie; Lyon"]
    assert {"tel", "email", "bday", "title", "note"}.isdisjoint(card.contents)
