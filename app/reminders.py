"""Reminders the device makes by rule, so that nothing falls through: the rules are plain Python
over plain facts (`proposed_reminders`); `apply_reminder_rules` reads the facts from the
replica and writes the reminders that are due through the outbox, like any edit of the rep's.

The rules, each on the rep's calendar (the day in their time zone), a reminder due at 09:00:

- visit_follow_up: the follow-up day written in a visit's report (`follow_up_reminder`);
- competitor_contract_end: 30 days before a competitor's contract ends, until it ends;
- reorder_overdue: no order for twice the account's usual gap (the median gap between its last
  13 order days, at least three of them), from that day and for LOOKBACK_DAYS, once per last order;
- quote_expiry: 3 days before a draft or sent quote expires, until it expires;
- overdue_invoice: the day after an open invoice's due day, and for LOOKBACK_DAYS, once per invoice;
- birthday: on a contact's birthday (28 February in other years for 29 February), and two
  days after for a device that was off that day.

A rule's reminder is made once: its id is derived from the rep and what it is about (the same
on every device of the rep, so two devices make one reminder), and a reminder already made
by the server for the same account, rule and day counts too.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from app.brief import buying_rhythm_days, next_birthday
from app.edits import create_record
from app.models import Account, Contact, Invoice, Order, Quote, Reminder, table_of, utc_day

__all__ = [
    "REMINDER_HOUR",
    "AccountFacts",
    "MadeReminder",
    "ProposedReminder",
    "apply_reminder_rules",
    "follow_up_reminder",
    "local_day",
    "proposed_reminders",
    "reminder_id",
]

#: The hour (rep's time) a rule's reminder is due at.
REMINDER_HOUR = 9
CONTRACT_NOTICE_DAYS = 30
QUOTE_NOTICE_DAYS = 3
BIRTHDAY_GRACE_DAYS = 2
#: A state that began longer ago than this (an invoice overdue for months, an account silent
#: for a year) is the card's and the brief's matter, not today's reminder.
LOOKBACK_DAYS = 30
OPEN_QUOTE_STATUSES = ("draft", "sent")
_NAMESPACE = uuid.UUID("0f3c2f4e-5a1b-4c8e-9d3a-7e6b5c4d3a21")


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What the rules read of one account."""

    account_id: str
    name: str
    competitor: str | None = None
    competitor_contract_end: date | None = None
    order_days: list[date] = field(default_factory=list)  # distinct, ascending
    open_quotes: list[tuple[str, str, date]] = field(default_factory=list)  # (id, number, valid until)
    open_invoices: list[tuple[str, str, date]] = field(default_factory=list)  # (id, number, due on)
    birthdays: list[tuple[str, str, date]] = field(default_factory=list)  # (contact id, name, born on)


@dataclass(frozen=True, slots=True)
class ProposedReminder:
    key: str  # what it is about, once: a rule's reminder is made once per key
    rule: str
    account_id: str
    due_on: date
    facts: dict[str, Any]
    contact_id: str | None = None


@dataclass(frozen=True, slots=True)
class MadeReminder:
    """A reminder written here by a rule (plain values: safe to keep after the session)."""

    id: str
    rule: str
    account_id: str
    contact_id: str | None
    due_at: datetime
    reason: str
    owner_id: str | None


def _made(reminder: Reminder) -> MadeReminder:
    return MadeReminder(
        reminder.id,
        reminder.rule or "",
        reminder.account_id,
        reminder.contact_id,
        reminder.due_at,
        reminder.reason,
        reminder.owner_id,
    )


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The rep's calendar day at a moment."""
    return moment.astimezone(zone).date()


def due_moment(day: date, zone: ZoneInfo) -> datetime:
    """REMINDER_HOUR on that day of the rep's calendar, as an aware time (stored in UTC)."""
    return datetime.combine(day, time(REMINDER_HOUR), tzinfo=zone)


def reminder_id(owner_id: str | None, key: str) -> str:
    """The same id on every device of the rep for the same reminder: one reminder, not two."""
    return str(uuid.uuid5(_NAMESPACE, f"{owner_id or ''}:{key}"))


def _competitor(facts: AccountFacts, today: date) -> Iterable[ProposedReminder]:
    end = facts.competitor_contract_end
    if facts.competitor and end is not None:
        due = end - timedelta(days=CONTRACT_NOTICE_DAYS)
        if due <= today <= end:
            yield ProposedReminder(
                f"competitor:{facts.account_id}:{end}",
                "competitor_contract_end",
                facts.account_id,
                due,
                {"competitor": facts.competitor, "ends_on": end},
            )


def _reorder(facts: AccountFacts, today: date) -> Iterable[ProposedReminder]:
    rhythm = buying_rhythm_days(facts.order_days)
    if rhythm is None or rhythm <= 0:
        return
    last = facts.order_days[-1]
    due = last + timedelta(days=math.ceil(2 * rhythm))
    if due <= today <= due + timedelta(days=LOOKBACK_DAYS):
        yield ProposedReminder(
            f"reorder:{facts.account_id}:{last}",
            "reorder_overdue",
            facts.account_id,
            due,
            {"every_days": round(rhythm), "last_order_on": last},
        )


def _quotes(facts: AccountFacts, today: date) -> Iterable[ProposedReminder]:
    for quote_id, number, valid_until in facts.open_quotes:
        due = valid_until - timedelta(days=QUOTE_NOTICE_DAYS)
        if due <= today <= valid_until:
            yield ProposedReminder(
                f"quote:{quote_id}:{valid_until}",
                "quote_expiry",
                facts.account_id,
                due,
                {"number": number, "valid_until": valid_until},
            )


def _invoices(facts: AccountFacts, today: date) -> Iterable[ProposedReminder]:
    for invoice_id, number, due_on in facts.open_invoices:
        due = due_on + timedelta(days=1)
        if due <= today <= due + timedelta(days=LOOKBACK_DAYS):
            yield ProposedReminder(
                f"invoice:{invoice_id}", "overdue_invoice", facts.account_id, due, {"number": number, "due_on": due_on}
            )


def _birthdays(facts: AccountFacts, today: date) -> Iterable[ProposedReminder]:
    for contact_id, name, born in facts.birthdays:
        # The anniversary on or before today, within the grace days (a device off that day).
        day = next_birthday(born, today - timedelta(days=BIRTHDAY_GRACE_DAYS))
        if day <= today:
            yield ProposedReminder(
                f"birthday:{contact_id}:{day.year}",
                "birthday",
                facts.account_id,
                day,
                {"contact": name, "on": day},
                contact_id,
            )


_RULES: tuple[Callable[[AccountFacts, date], Iterable[ProposedReminder]], ...] = (
    _competitor,
    _reorder,
    _quotes,
    _invoices,
    _birthdays,
)


def proposed_reminders(facts: AccountFacts, today: date) -> list[ProposedReminder]:
    """The rules' reminders for one account that are due on `today` (a day of the rep's)."""
    return [proposal for rule in _RULES for proposal in rule(facts, today)]


def _book_facts(session: Session) -> list[AccountFacts]:
    """Every account's facts in a few queries over the whole replica (not one per account)."""
    conn = session.connection()
    a, o, q, i, c = (table_of(m).c for m in (Account, Order, Quote, Invoice, Contact))
    days: dict[str, list[date]] = {}
    for account_id, day in conn.execute(
        sa.select(o.account_id, utc_day(o.ordered_at))
        .where(o.status != "cancelled")
        .distinct()
        .order_by(o.account_id, utc_day(o.ordered_at))
    ):
        days.setdefault(account_id, []).append(date.fromisoformat(day))
    quotes: dict[str, list[tuple[str, str, date]]] = {}
    for account_id, quote_id, legal, provisional, valid_until in conn.execute(
        sa.select(q.account_id, q.id, q.legal_number, q.provisional_number, q.valid_until).where(
            q.status.in_(OPEN_QUOTE_STATUSES), q.valid_until.is_not(None)
        )
    ):
        quotes.setdefault(account_id, []).append((quote_id, legal or provisional, valid_until))
    invoices: dict[str, list[tuple[str, str, date]]] = {}
    for account_id, invoice_id, number, due_on in conn.execute(
        sa.select(i.account_id, i.id, i.number, i.due_on).where(i.status == "open")
    ):
        invoices.setdefault(account_id, []).append((invoice_id, number, due_on))
    birthdays: dict[str, list[tuple[str, str, date]]] = {}
    for account_id, contact_id, first, last, born in conn.execute(
        sa.select(c.account_id, c.id, c.first_name, c.last_name, c.birthday).where(c.birthday.is_not(None))
    ):
        birthdays.setdefault(account_id, []).append((contact_id, " ".join(p for p in (first, last) if p), born))
    return [
        AccountFacts(
            account_id,
            name,
            competitor,
            contract_end,
            days.get(account_id, []),
            quotes.get(account_id, []),
            invoices.get(account_id, []),
            birthdays.get(account_id, []),
        )
        for account_id, name, competitor, contract_end in conn.execute(
            sa.select(a.id, a.name, a.competitor, a.competitor_contract_end)
        )
    ]


def _already_made(session: Session, zone: ZoneInfo) -> tuple[set[str], set[tuple[str, str | None, str, date]]]:
    """Ids of the reminders here, and (account, contact, rule, rep's day) of those made by a rule."""
    r = table_of(Reminder).c
    ids: set[str] = set()
    by_rule: set[tuple[str, str | None, str, date]] = set()
    for reminder_id_, account_id, contact_id, rule, due_at in session.connection().execute(
        sa.select(r.id, r.account_id, r.contact_id, r.rule, r.due_at)
    ):
        ids.add(reminder_id_)
        if rule:
            by_rule.add((account_id, contact_id, rule, local_day(due_at, zone)))
    return ids, by_rule


def apply_reminder_rules(
    *,
    session: Session,
    now: datetime,
    zone: ZoneInfo,
    owner_id: str | None,
    describe: Callable[[ProposedReminder, str], str],
) -> list[MadeReminder]:
    """Make the rules' reminders due by `now` that are not made yet; each goes through the
    outbox. `describe(proposal, account name)` words the reason in the rep's language."""
    today = local_day(now, zone)
    ids, by_rule = _already_made(session, zone)
    made: list[MadeReminder] = []
    for facts in _book_facts(session):
        for proposal in proposed_reminders(facts, today):
            record_id = reminder_id(owner_id, proposal.key)
            due_at = due_moment(proposal.due_on, zone)
            # The server (or an older app) may have made it already, with an id of its own.
            if (
                record_id in ids
                or (proposal.account_id, proposal.contact_id, proposal.rule, proposal.due_on) in by_rule
            ):
                continue
            reminder = create_record(
                session=session,
                entity="reminder",
                fields={
                    "id": record_id,
                    "account_id": proposal.account_id,
                    "contact_id": proposal.contact_id,
                    "due_at": due_at,
                    "reason": describe(proposal, facts.name)[:500],
                    "rule": proposal.rule,
                },
                author_id=owner_id,
            )
            ids.add(record_id)
            made.append(_made(reminder))  # type: ignore[arg-type]
    return made


def follow_up_reminder(
    *,
    session: Session,
    visit_id: str,
    account_id: str,
    contact_id: str | None,
    follow_up_on: date,
    zone: ZoneInfo,
    owner_id: str | None,
    reason: str,
) -> MadeReminder:
    """The reminder a visit report's follow-up day becomes (once per visit)."""
    record_id = reminder_id(owner_id, f"follow_up:{visit_id}")
    existing = session.get(Reminder, record_id)
    if existing is not None:
        return _made(existing)
    reminder = create_record(
        session=session,
        entity="reminder",
        fields={
            "id": record_id,
            "account_id": account_id,
            "contact_id": contact_id,
            "due_at": due_moment(follow_up_on, zone),
            "reason": reason[:500],
            "rule": "visit_follow_up",
        },
        author_id=owner_id,
    )
    return _made(reminder)  # type: ignore[arg-type]
