"""The agenda as an RFC 5545 calendar and the contacts as vCard 3.0 cards, read from the replica,
so that a rep sees their visits and customers in the phone's own calendar and address book."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import vobject
from icalendar import Calendar, Event
from icalendar.enums import STATUS
from sqlmodel import Session, col, select

from app.i18n import Translator
from app.ids import utcnow
from app.models import Account, Contact, Visit, utc_day

__all__ = ["agenda_calendar", "agenda_ics", "contact_cards", "contacts_vcard"]

PRODID = "-//Terrain//Terrain field-sales CRM//EN"

# The few words the files carry beyond what the app already translates.
_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "visit": "Visite",
        "contact": "Contact : {}",
        "notes": "Compte rendu : {}",
        "next_steps": "Suite à donner : {}",
        "preferred_channel": "Canal préféré : {}",
        "responsiveness": "Réactivité : {}",
    },
    "en": {
        "visit": "Visit",
        "contact": "Contact: {}",
        "notes": "Report: {}",
        "next_steps": "Next steps: {}",
        "preferred_channel": "Preferred channel: {}",
        "responsiveness": "Responsiveness: {}",
    },
}

# A cancelled visit stays in the file as cancelled, so a phone that imported it before drops it.
_EVENT_STATUS = {"cancelled": STATUS.CANCELLED}


def agenda_calendar(
    *,
    session: Session,
    start: date | None = None,
    end: date | None = None,
    calendar_name: str = "Terrain",
    language: str = "fr",
) -> Calendar:
    """Every visit on the replica (those whose UTC day is in [start, end] when given) as one event."""
    words = _words(language)
    query = (
        select(Visit, Account, Contact)
        .join(Account, col(Account.id) == col(Visit.account_id), isouter=True)
        .join(Contact, col(Contact.id) == col(Visit.contact_id), isouter=True)
        .order_by(col(Visit.starts_at), col(Visit.id))
    )
    if start is not None:
        query = query.where(utc_day(Visit.starts_at) >= start.isoformat())
    if end is not None:
        query = query.where(utc_day(Visit.starts_at) <= end.isoformat())
    stamp = utcnow()
    calendar = Calendar.new(prodid=PRODID, name=calendar_name)
    rows: Sequence[tuple[Visit, Account | None, Contact | None]] = session.exec(query).all()
    for visit, account, contact in rows:
        calendar.add_component(_visit_event(visit, account, contact, stamp=stamp, words=words))
    return calendar


def agenda_ics(
    *,
    session: Session,
    start: date | None = None,
    end: date | None = None,
    calendar_name: str = "Terrain",
    language: str = "fr",
) -> bytes:
    """The agenda as an `.ics` file (UTF-8, CRLF lines)."""
    calendar = agenda_calendar(session=session, start=start, end=end, calendar_name=calendar_name, language=language)
    ical: bytes = calendar.to_ical()  # typed Any by icalendar
    return ical


def contact_cards(*, session: Session, language: str = "fr") -> list[str]:
    """One serialised vCard 3.0 per contact on the replica, by last name then first name."""
    t = Translator(language)
    words = _words(language)
    query = (
        select(Contact, Account)
        .join(Account, col(Account.id) == col(Contact.account_id), isouter=True)
        .order_by(col(Contact.last_name), col(Contact.first_name), col(Contact.id))
    )
    rows: Sequence[tuple[Contact, Account | None]] = session.exec(query).all()
    return [_contact_card(contact, account, t=t, words=words) for contact, account in rows]


def contacts_vcard(*, session: Session, language: str = "fr") -> str:
    """The contacts as one `.vcf` file: the cards one after the other."""
    return "".join(contact_cards(session=session, language=language))


def _words(language: str) -> dict[str, str]:
    return _WORDS.get(language, _WORDS["fr"])


def _full_name(contact: Contact) -> str:
    return " ".join(part for part in (contact.first_name, contact.last_name) if part)


def _address(account: Account) -> str | None:
    town = " ".join(part for part in (account.billing_postcode, account.billing_city) if part)
    return ", ".join(part for part in (account.billing_street, town) if part) or None


def _visit_event(
    visit: Visit, account: Account | None, contact: Contact | None, *, stamp: datetime, words: dict[str, str]
) -> Event:
    name = account.name if account is not None else words["visit"]
    lines: list[str] = []
    if contact is not None:
        phones = ", ".join(phone for phone in (contact.phone, contact.mobile) if phone)
        lines.append(words["contact"].format(_full_name(contact) + (f" — {phones}" if phones else "")))
    if visit.report_notes:
        lines.append(words["notes"].format(visit.report_notes))
    if visit.next_steps:
        lines.append(words["next_steps"].format(visit.next_steps))
    event = Event.new(
        uid=f"{visit.id}@terrain",
        stamp=stamp,
        start=visit.starts_at.astimezone(UTC),
        end=visit.ends_at.astimezone(UTC),
        summary=f"{name} — {visit.purpose}" if visit.purpose else name,
        location=_address(account) if account is not None else None,
        description="\n".join(lines) or None,
        status=_EVENT_STATUS.get(visit.status, STATUS.CONFIRMED),
        last_modified=visit.updated_at.astimezone(UTC),
    )
    if account is not None and account.billing_lat is not None and account.billing_lon is not None:
        event.add("geo", (account.billing_lat, account.billing_lon))
    return event


def _contact_card(contact: Contact, account: Account | None, *, t: Translator, words: dict[str, str]) -> str:
    card = vobject.vCard()
    card.add("uid").value = contact.id
    card.add("fn").value = _full_name(contact)
    card.add("n").value = vobject.vcard.Name(family=contact.last_name, given=contact.first_name or "")
    if account is not None:
        card.add("org").value = [account.name]
    if contact.role:
        card.add("title").value = contact.role
    for number, kind in ((contact.phone, "WORK"), (contact.mobile, "CELL")):
        if number:
            tel = card.add("tel")
            tel.value = number
            tel.type_param = kind
    if contact.email:
        email = card.add("email")
        email.value = contact.email
        email.type_param = "INTERNET"
    if contact.birthday is not None:
        card.add("bday").value = contact.birthday.isoformat()
    note: list[str] = []
    if contact.preferred_channel:
        channel = t(f"channel.{contact.preferred_channel}")
        if channel.startswith("channel."):  # a channel this version of the app has no word for
            channel = contact.preferred_channel
        note.append(words["preferred_channel"].format(channel))
    if contact.responsiveness:
        note.append(words["responsiveness"].format(contact.responsiveness))
    if contact.notes:
        note.append(contact.notes)
    if note:
        card.add("note").value = "\n".join(note)
    return str(card.serialize())
