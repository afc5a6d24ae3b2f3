"""The rep's agenda on the device: the visits of a day or a week, planning, moving and
cancelling them, the check-in that proves a visit, and the report with its follow-up.

Every change is a write of the rep's through the outbox (`app.edits`), so it works offline and
syncs later. Days are the rep's calendar days (their time zone); times are stored in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from geopy.distance import geodesic
from sqlmodel import Session

from app.edits import InvalidEdit, create_record, update_record
from app.models import Account, Contact, Product, Reminder, Visit, table_of
from app.reminders import MadeReminder, follow_up_reminder
from app.route import Stop, plan_route

__all__ = [
    "CHECK_IN_WARNING_METRES",
    "AgendaVisit",
    "CheckIn",
    "DayRoute",
    "agenda_visit",
    "cancel_visit",
    "check_in",
    "contact_choices",
    "day_agenda",
    "due_reminders",
    "move_visit",
    "plan_visit",
    "reminders_on",
    "todays_route",
    "week_agenda",
    "write_report",
]

#: A check-in farther than this from the customer's address is flagged.
CHECK_IN_WARNING_METRES = 500


@dataclass(frozen=True, slots=True)
class AgendaVisit:
    id: str
    account_id: str
    account_name: str
    town: str | None
    lat: float | None
    lon: float | None
    contact_name: str | None
    starts_at: datetime
    ends_at: datetime
    purpose: str | None
    status: str
    fixed_time: bool
    checked_in_at: datetime | None
    has_report: bool
    contact_id: str | None = None


@dataclass(frozen=True, slots=True)
class CheckIn:
    visit_id: str
    at: datetime
    distance_m: float | None  # None: the customer's address has no position
    too_far: bool


def _edge(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def _agenda(session: Session, where: Any) -> list[AgendaVisit]:
    v, a, c = table_of(Visit).c, table_of(Account).c, table_of(Contact).c
    rows = session.connection().execute(
        sa.select(
            v.id,
            v.account_id,
            a.name,
            a.billing_city,
            a.billing_lat,
            a.billing_lon,
            c.first_name,
            c.last_name,
            v.starts_at,
            v.ends_at,
            v.purpose,
            v.status,
            v.fixed_time,
            v.checked_in_at,
            sa.or_(v.report_notes.is_not(None), v.next_steps.is_not(None)),
            v.contact_id,
        )
        .join_from(table_of(Visit), table_of(Account), a.id == v.account_id)
        .outerjoin(table_of(Contact), c.id == v.contact_id)
        .where(where)
        .order_by(v.starts_at, a.name)
    )
    return [
        AgendaVisit(
            id=r[0],
            account_id=r[1],
            account_name=r[2],
            town=r[3],
            lat=r[4],
            lon=r[5],
            contact_name=" ".join(p for p in (r[6], r[7]) if p) or None,
            starts_at=r[8],
            ends_at=r[9],
            purpose=r[10],
            status=r[11],
            fixed_time=bool(r[12]),
            checked_in_at=r[13],
            has_report=bool(r[14]),
            contact_id=r[15],
        )
        for r in rows
    ]


def _days(first: date, days: int, zone: ZoneInfo) -> Any:
    starts_at = table_of(Visit).c.starts_at
    return sa.and_(starts_at >= _edge(first, zone), starts_at < _edge(first + timedelta(days=days), zone))


def agenda_visit(*, session: Session, visit_id: str) -> AgendaVisit | None:
    """One visit as the agenda shows it (None if it is not on this device)."""
    found = _agenda(session, table_of(Visit).c.id == visit_id)
    return found[0] if found else None


def contact_choices(*, session: Session, account_id: str) -> list[tuple[str, str]]:
    """The account's contacts as (id, "First Last (role)"), the main contact first, then by name."""
    c = table_of(Contact).c
    rows = session.connection().execute(
        sa.select(c.id, c.first_name, c.last_name, c.role)
        .where(c.account_id == account_id)
        .order_by(c.is_primary.desc(), c.last_name, c.first_name)
    )
    choices = []
    for contact_id, first, last, role in rows:
        name = " ".join(p for p in (first, last) if p)
        choices.append((contact_id, f"{name} ({role})" if role else name))
    return choices


def day_agenda(*, session: Session, day: date, zone: ZoneInfo) -> list[AgendaVisit]:
    """The visits of a day of the rep's, by time (cancelled ones included, marked)."""
    return _agenda(session, _days(day, 1, zone))


def week_agenda(*, session: Session, day: date, zone: ZoneInfo) -> list[AgendaVisit]:
    """The visits of the week (Monday to Sunday) holding `day`."""
    return _agenda(session, _days(day - timedelta(days=day.weekday()), 7, zone))


@dataclass(frozen=True, slots=True)
class DayRoute:
    """The day's visits in driving order, with the kilometres of each leg (from the start, between
    visits, back: one more leg than visits; with no start, only those between visits); the visits
    whose customer has no position come after, unrouted; then the day's visits done or cancelled."""

    stops: list[AgendaVisit]
    legs_km: list[float]
    total_km: float
    unplaced: list[AgendaVisit]
    others: list[AgendaVisit]


def todays_route(
    *,
    session: Session,
    day: date,
    zone: ZoneInfo,
    start: tuple[float, float] | None,
    end: tuple[float, float] | None = None,
) -> DayRoute:
    """The visits still to make that day (not cancelled nor done) in a good driving order from
    `start` (the rep's position or home) and back (or to `end`); appointments stay in their slots.
    With no start known, the visits in time order, with the legs between them."""
    day_visits = day_agenda(session=session, day=day, zone=zone)
    visits = [v for v in day_visits if v.status in ("planned", "checked_in")]
    others = [v for v in day_visits if v.status not in ("planned", "checked_in")]
    placed = [v for v in visits if v.lat is not None and v.lon is not None]
    unplaced = [v for v in visits if v.lat is None or v.lon is None]
    if start is None:
        points = [(v.lat, v.lon) for v in placed]
        legs = [geodesic(a, b).km for a, b in zip(points, points[1:], strict=False)]
        return DayRoute(placed, legs, sum(legs), unplaced, others)
    stops = [
        Stop(v.id, v.lat, v.lon, v.starts_at if v.fixed_time else None)
        for v in placed
        if v.lat is not None and v.lon is not None
    ]
    route = plan_route(start=start, stops=stops, end=end)
    by_id = {v.id: v for v in placed}
    return DayRoute([by_id[i] for i in route.order], route.legs_km, route.total_km, unplaced, others)


def plan_visit(
    *,
    session: Session,
    account_id: str,
    starts_at: datetime,
    minutes: int = 60,
    contact_id: str | None = None,
    purpose: str | None = None,
    fixed_time: bool = False,
    rep_id: str | None = None,
) -> Visit:
    if minutes <= 0:
        raise InvalidEdit("a visit lasts at least a minute")
    fields = {
        "account_id": account_id,
        "contact_id": contact_id,
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(minutes=minutes),
        "purpose": purpose,
        "fixed_time": fixed_time,
    }
    visit = create_record(session=session, entity="visit", fields=fields, author_id=rep_id)
    assert isinstance(visit, Visit)
    return visit


def _visit(session: Session, visit_id: str) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise InvalidEdit(f"no visit {visit_id} on this device")
    return visit


def move_visit(*, session: Session, visit_id: str, starts_at: datetime) -> Visit:
    """Another time, the same length."""
    visit = _visit(session, visit_id)
    if visit.status != "planned":
        raise InvalidEdit("only a planned visit can be moved")
    length = visit.ends_at - visit.starts_at
    changes = {"starts_at": starts_at, "ends_at": starts_at + length}
    moved = update_record(session=session, entity="visit", record_id=visit_id, changes=changes)
    assert isinstance(moved, Visit)
    return moved


def cancel_visit(*, session: Session, visit_id: str) -> Visit:
    visit = _visit(session, visit_id)
    if visit.status in ("done", "cancelled"):
        raise InvalidEdit(f"this visit is already {visit.status}")
    cancelled = update_record(session=session, entity="visit", record_id=visit_id, changes={"status": "cancelled"})
    assert isinstance(cancelled, Visit)
    return cancelled


def check_in(
    *,
    session: Session,
    visit_id: str,
    at: datetime,
    lat: float | None,
    lon: float | None,
    warning_metres: float = CHECK_IN_WARNING_METRES,
) -> CheckIn:
    """Record the time and position of the rep's arrival; say how far from the customer's
    address it was (the position may be the device's, typed, or estimated)."""
    visit = _visit(session, visit_id)
    if visit.status not in ("planned", "checked_in"):
        raise InvalidEdit(f"this visit is {visit.status}: there is nothing to check in to")
    account = session.get(Account, visit.account_id)
    distance = None
    if account is not None and None not in (lat, lon, account.billing_lat, account.billing_lon):
        distance = geodesic((lat, lon), (account.billing_lat, account.billing_lon)).meters
    changes = {"status": "checked_in", "checked_in_at": at, "check_in_lat": lat, "check_in_lon": lon}
    update_record(session=session, entity="visit", record_id=visit_id, changes=changes)
    return CheckIn(visit_id, at, distance, distance is not None and distance > warning_metres)


def write_report(
    *,
    session: Session,
    visit_id: str,
    notes: str,
    outcome: str | None,
    next_steps: str | None,
    follow_up_on: date | None,
    zone: ZoneInfo,
    owner_id: str | None,
    follow_up_reason: str,
    met_contact_id: str | None = None,
    products_presented: Sequence[str] = (),
) -> MadeReminder | None:
    """The visit's report, written once (reports are append-only), the visit done; a follow-up
    day becomes a reminder. `met_contact_id`: who was met, a contact of the visit's customer;
    `products_presented`: product ids, each once, in the order given."""
    visit = _visit(session, visit_id)
    if visit.report_notes or visit.next_steps:
        raise InvalidEdit("this visit's report is already written")
    if not notes.strip():
        raise InvalidEdit("report_notes: write what happened")
    changes: dict[str, Any] = {"report_notes": notes.strip(), "status": "done"}
    if outcome:
        changes["outcome"] = outcome
    if next_steps and next_steps.strip():
        changes["next_steps"] = next_steps.strip()
    if met_contact_id:
        met = session.get(Contact, met_contact_id)
        if met is None or met.account_id != visit.account_id:
            raise InvalidEdit("met_contact_id: the person met is not a contact of this customer")
        changes["met_contact_id"] = met_contact_id
    products = list(dict.fromkeys(products_presented))
    if products:
        unknown = [p for p in products if session.get(Product, p) is None]
        if unknown:
            raise InvalidEdit(f"products_presented: no product {unknown[0]} in the catalogue on this device")
        changes["products_presented"] = products
    update_record(session=session, entity="visit", record_id=visit_id, changes=changes)
    if follow_up_on is None:
        return None
    return follow_up_reminder(
        session=session,
        visit_id=visit_id,
        account_id=visit.account_id,
        contact_id=visit.contact_id,
        follow_up_on=follow_up_on,
        zone=zone,
        owner_id=owner_id,
        reason=follow_up_reason,
    )


def reminders_on(*, session: Session, day: date, zone: ZoneInfo) -> list[Reminder]:
    """The reminders due on a day of the rep's (another day than today), not done; by time."""
    r = table_of(Reminder).c
    ids = (
        session.connection()
        .execute(
            sa.select(r.id)
            .where(r.done.is_(False), r.due_at >= _edge(day, zone), r.due_at < _edge(day + timedelta(days=1), zone))
            .order_by(r.due_at)
        )
        .scalars()
    )
    return [reminder for i in ids if (reminder := session.get(Reminder, i)) is not None]


def due_reminders(*, session: Session, now: datetime, zone: ZoneInfo) -> list[Reminder]:
    """What is due by the end of the rep's day and not done, nor snoozed past now; oldest first."""
    r = table_of(Reminder).c
    end_of_day = _edge(now.astimezone(zone).date() + timedelta(days=1), zone)
    ids = (
        session.connection()
        .execute(
            sa.select(r.id)
            .where(
                r.done.is_(False),
                r.due_at < end_of_day,
                sa.or_(r.snoozed_until.is_(None), r.snoozed_until <= now),
            )
            .order_by(r.due_at)
        )
        .scalars()
    )
    return [reminder for i in ids if (reminder := session.get(Reminder, i)) is not None]
