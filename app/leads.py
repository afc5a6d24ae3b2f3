"""The quick lead form's checks, as the rep types: the e-mail (email-validator, offline), the
phone (phonenumbers), the SIREN, SIRET or VAT number (python-stdnum), and the customers already
in the replica that the lead may be (`app.duplicates`).

`DuplicateIndex` reads the replica's accounts and contacts once and normalises their
identifiers (phones to E.164, e-mail domains, SIRENs, company-name keys); each keystroke then
costs dictionary look-ups and one rapidfuzz pass over the name keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from rapidfuzz import process
from sqlmodel import Session

from app.duplicates import (
    NAME_THRESHOLD,
    company_key,
    email_domain,
    key_similarity,
    phone_key,
    siren_key,
    website_domain,
)
from app.edits import InvalidEdit, create_record
from app.ids import new_id, utcnow
from app.lead_import import LeadDraft
from app.models import Account, Activity, Campaign, Contact, Temperature, table_of

__all__ = [
    "FOLLOW_UP_DAYS",
    "CapturedLead",
    "DuplicateIndex",
    "DuplicateMatch",
    "EventSummary",
    "LeadCheck",
    "LeadLine",
    "capture_lead",
    "check_lead",
    "event_leads",
    "events",
    "BadgeReport",
    "guess_language",
    "import_badges",
    "open_event",
]

#: After the event, how many days until a lead's follow-up reminder, by how keen they were.
FOLLOW_UP_DAYS = {Temperature.hot: 1, Temperature.warm: 3, Temperature.cold: 7}
#: The hour (the rep's time) the follow-up reminder is due at.
FOLLOW_UP_HOUR = 9
#: Phone country codes and e-mail country domains where a lead is written to in French.
_FRENCH_PHONE = ("+33", "+32", "+41", "+352", "+377", "+262", "+590", "+594", "+596")
_FRENCH_TLD = ("fr", "be", "ch", "lu", "mc", "re")


@dataclass(frozen=True, slots=True)
class LeadCheck:
    """The draft with its e-mail and phone normalised, and what to fix, by field."""

    draft: LeadDraft
    siren: str | None
    problems: dict[str, str]


def check_lead(draft: LeadDraft, *, company_id: str | None = None, region: str = "FR") -> LeadCheck:
    """Check a lead as typed; `company_id`: a SIREN, SIRET or VAT number if the rep has one."""
    problems: dict[str, str] = {}
    email = draft.email
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            problems["email"] = str(exc)
    phone = draft.phone
    if phone:
        phone = phone_key(phone, region)
        if phone is None:
            problems["phone"] = f"{draft.phone!r} is not a phone number"
            phone = draft.phone
    siren = None
    if company_id:
        siren = siren_key(company_id)
        if siren is None:
            problems["company_id"] = f"{company_id!r} is not a valid SIREN, SIRET or French VAT number"
    if not (draft.last_name or draft.company or draft.email):
        problems["last_name"] = "a lead needs a name, a company or an e-mail"
    return LeadCheck(replace(draft, email=email, phone=phone), siren, problems)


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    account_id: str
    account_name: str
    reasons: list[str]  # "siren", "email", "phone", "domain", "name"
    name_score: float


class DuplicateIndex:
    """The replica's customers, ready to be matched against a lead as it is typed."""

    def __init__(self, session: Session) -> None:
        a, c = table_of(Account).c, table_of(Contact).c
        conn = session.connection()
        self.names: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.by: dict[str, dict[str, set[str]]] = {kind: {} for kind in ("siren", "email", "phone", "domain")}
        for account_id, name, email, phone, siren, website in conn.execute(
            sa.select(a.id, a.name, a.email, a.phone, a.siren, a.website)
        ):
            self.names[account_id] = name
            self.keys[account_id] = company_key(name)
            self._add(account_id, email=email, phones=(phone,), siren=siren)
            if (domain := website_domain(website)) is not None:
                self.by["domain"].setdefault(domain, set()).add(account_id)
        for account_id, email, phone, mobile in conn.execute(sa.select(c.account_id, c.email, c.phone, c.mobile)):
            self._add(account_id, email=email, phones=(phone, mobile), siren=None)

    def _add(self, account_id: str, *, email: str | None, phones: tuple[str | None, ...], siren: str | None) -> None:
        if email:
            self.by["email"].setdefault(email.strip().lower(), set()).add(account_id)
            if (domain := email_domain(email)) is not None:
                self.by["domain"].setdefault(domain, set()).add(account_id)
        for phone in phones:
            if (key := phone_key(phone)) is not None:
                self.by["phone"].setdefault(key, set()).add(account_id)
        if (key := siren_key(siren)) is not None:
            self.by["siren"].setdefault(key, set()).add(account_id)

    def match(self, draft: LeadDraft, siren: str | None = None, limit: int = 5) -> list[DuplicateMatch]:
        """The customers the lead may be, the most likely first (most reasons, then name score)."""
        reasons: dict[str, list[str]] = {}
        lookups = {
            "siren": siren_key(siren),
            "email": draft.email.strip().lower() if draft.email else None,
            "phone": phone_key(draft.phone),
            "domain": email_domain(draft.email),
        }
        for kind, key in lookups.items():
            for account_id in self.by[kind].get(key, ()) if key else ():
                reasons.setdefault(account_id, []).append(kind)
        scores: dict[str, float] = {}
        if draft.company and (key := company_key(draft.company)):
            for _key, score, account_id in process.extract(
                key, self.keys, scorer=key_similarity, score_cutoff=NAME_THRESHOLD, limit=limit
            ):
                scores[account_id] = score
                reasons.setdefault(account_id, []).append("name")
        found = [
            DuplicateMatch(account_id, self.names.get(account_id, account_id), why, scores.get(account_id, 0.0))
            for account_id, why in reasons.items()
        ]
        found.sort(key=lambda m: (-len(m.reasons), -m.name_score, m.account_name))
        return found[:limit]


# Events -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventSummary:
    id: str
    name: str
    place: str | None
    starts_on: date | None
    ends_on: date | None
    leads: int  # people met there, on this device


def open_event(
    *,
    session: Session,
    name: str,
    place: str | None,
    starts_on: date | None,
    ends_on: date | None,
    author_id: str | None = None,
) -> Campaign:
    """A trade fair the rep arrives at, made here (offline too) and shared with every device at
    sync. Reuses an event of the same name and first day that already reached this device."""
    name = name.strip()
    c = table_of(Campaign).c
    same = (
        session.connection()
        .execute(
            sa.select(c.id).where(
                c.channel == "trade_fair",
                sa.func.lower(c.name) == name.lower(),
                c.starts_on.is_(starts_on) if starts_on is None else c.starts_on == starts_on,
            )
        )
        .scalar()
    )
    if same is not None and (found := session.get(Campaign, same)) is not None:
        return found
    fields: dict[str, object] = {"name": name, "channel": "trade_fair", "place": (place or "").strip() or None}
    fields |= {"starts_on": starts_on, "ends_on": ends_on}
    event = create_record(session=session, entity="campaign", fields=fields, author_id=author_id)
    assert isinstance(event, Campaign)
    return event


def events(*, session: Session, today: date) -> list[EventSummary]:
    """The trade fairs on this device: those on now first, then the coming ones, then the past."""
    c, k = table_of(Campaign).c, table_of(Contact).c
    counts: dict[str, int] = dict(
        session.connection()
        .execute(
            sa.select(k.origin_campaign_id, sa.func.count())
            .where(k.origin_campaign_id.is_not(None))
            .group_by(k.origin_campaign_id)
        )
        .all()
    )
    rows = session.connection().execute(
        sa.select(c.id, c.name, c.place, c.starts_on, c.ends_on).where(c.channel == "trade_fair")
    )
    found = [EventSummary(r.id, r.name, r.place, r.starts_on, r.ends_on, counts.get(r.id, 0)) for r in rows]

    def rank(e: EventSummary) -> tuple[int, int]:
        first, last = e.starts_on or today, e.ends_on or e.starts_on or today
        if first <= today <= last:
            return (0, 0)
        if first > today:
            return (1, (first - today).days)
        return (2, (today - last).days)

    return sorted(found, key=lambda e: (*rank(e), e.name))


# Capture ------------------------------------------------------------------------------------
def guess_language(draft: LeadDraft, default: str = "fr") -> str:
    """The language to write to a lead in, from their phone's country or their e-mail's country
    domain; `default` when neither says (a .com address, no phone)."""
    phone = phone_key(draft.phone) if draft.phone else None
    if phone is not None:
        return "fr" if phone.startswith(_FRENCH_PHONE) else "en"
    domain = email_domain(draft.email) or ""
    tld = domain.rsplit(".", 1)[-1] if "." in domain else ""
    if tld in _FRENCH_TLD:
        return "fr"
    if len(tld) == 2 or tld == "uk":
        return "en"
    return default


@dataclass(frozen=True, slots=True)
class CapturedLead:
    account_id: str
    contact_id: str
    activity_id: str
    reminder_id: str
    new_account: bool
    name: str  # the person, as the list of the event's leads shows them
    company: str


def _follow_up_at(event: Campaign, temperature: Temperature, today: date, zone: ZoneInfo) -> datetime:
    start = max(today, event.ends_on or today)
    day = start + timedelta(days=FOLLOW_UP_DAYS[temperature])
    return datetime.combine(day, time(FOLLOW_UP_HOUR), tzinfo=zone)


def capture_lead(
    *,
    session: Session,
    event_id: str,
    draft: LeadDraft,
    company_id: str | None = None,
    temperature: Temperature = Temperature.warm,
    product_ids: list[str] | None = None,
    next_step: str | None = None,
    language: str | None = None,
    attach_to: str | None = None,
    author_id: str | None = None,
    follow_up_reason: str = "{name}: follow-up ({event})",
    zone: ZoneInfo,
    now: datetime | None = None,
) -> CapturedLead:
    """Save a person met at an event, in one transaction: a new lead account (or the existing
    account the rep attached them to), the person as its contact, the conversation as an
    activity (temperature, products asked about, notes, next step) and a follow-up reminder.
    All of them name the event as their origin; the whole goes to the server at the next sync.
    The person may be e-mailed (follow-ups) only when `draft.consent_email` is True.

    `follow_up_reason` is the reminder's words, with `{name}` and `{event}` in them.
    Raises InvalidEdit naming the field when something typed is wrong.
    """
    event = session.get(Campaign, event_id)
    if event is None or event.channel != "trade_fair":
        raise InvalidEdit("event: no such event on this device")
    checked = check_lead(draft, company_id=company_id)
    if checked.problems:
        field, problem = next(iter(checked.problems.items()))
        raise InvalidEdit(f"{field}: {problem}")
    lead = checked.draft
    now = now or utcnow()
    person = " ".join(p for p in (lead.first_name, lead.last_name) if p) or lead.email or ""
    company = (lead.company or "").strip()
    try:
        if attach_to is not None:
            account = session.get(Account, attach_to)
            if account is None:
                raise InvalidEdit("account: the customer to attach to is not on this device")
            account_id, company = account.id, account.name
        else:
            account_id = new_id()
            fields = {
                "id": account_id,
                "name": company or person,
                "lifecycle_stage": "lead",
                "origin": "trade_fair",
                "origin_campaign_id": event.id,
                "first_touch_at": now,
                "siren": checked.siren,
                "owner_id": author_id,
            }
            create_record(session=session, entity="account", fields=fields, commit=False)
        contact = create_record(
            session=session,
            entity="contact",
            fields={
                "account_id": account_id,
                "first_name": lead.first_name,
                "last_name": lead.last_name or lead.email or company,
                "role": lead.title,
                "email": lead.email,
                "mobile": lead.phone,
                "language": language or guess_language(lead),
                "origin": "trade_fair",
                "origin_campaign_id": event.id,
                "is_primary": attach_to is None,
                # Only a yes recorded (the form's box, a scanner's opt-in column) lets them be e-mailed.
                "consent_email": lead.consent_email is True,
            },
            commit=False,
        )
        activity = create_record(
            session=session,
            entity="activity",
            fields={
                "account_id": account_id,
                "contact_id": contact.id,
                "kind": "meeting",
                "direction": "in",
                "occurred_at": now,
                "subject": event.name,
                "summary": lead.notes,
                "campaign_id": event.id,
                "temperature": temperature,
                "product_ids": product_ids or None,
                "next_step": next_step or None,
            },
            author_id=author_id,
            commit=False,
        )
        reminder = create_record(
            session=session,
            entity="reminder",
            fields={
                "account_id": account_id,
                "contact_id": contact.id,
                "due_at": _follow_up_at(event, temperature, now.astimezone(zone).date(), zone),
                "reason": follow_up_reason.format(name=person or company, event=event.name)[:500],
            },
            author_id=author_id,
            commit=False,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return CapturedLead(account_id, contact.id, activity.id, reminder.id, attach_to is None, person, company)


@dataclass(frozen=True, slots=True)
class LeadLine:
    contact_id: str
    account_id: str
    name: str
    company: str
    temperature: str | None
    captured_at: datetime | None


def event_leads(*, session: Session, event_id: str, limit: int = 200) -> list[LeadLine]:
    """The people met at an event, the latest first, each with the temperature of their latest
    conversation there."""
    k, v = table_of(Contact).c, table_of(Activity).c
    a = table_of(Account)
    conn = session.connection()
    capture = (
        sa.select(v.contact_id, sa.func.max(v.occurred_at).label("at"))
        .where(v.campaign_id == event_id, v.kind == "meeting")
        .group_by(v.contact_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(k.id, k.account_id, k.first_name, k.last_name, a.c.name, capture.c.at)
        .join(a, a.c.id == k.account_id)
        .outerjoin(capture, capture.c.contact_id == k.id)
        .where(k.origin_campaign_id == event_id)
        .order_by(capture.c.at.desc(), k.id.desc())
        .limit(limit)
    ).all()
    temperatures: dict[str, str | None] = {}
    for contact_id, temperature in conn.execute(
        sa.select(v.contact_id, v.temperature)
        .where(v.campaign_id == event_id, v.kind == "meeting", v.contact_id.in_([r.id for r in rows]))
        .order_by(v.occurred_at, v.id)
    ):
        temperatures[contact_id] = temperature  # the latest wins
    return [
        LeadLine(
            r.id,
            r.account_id,
            " ".join(p for p in (r.first_name, r.last_name) if p),
            r.name,
            temperatures.get(r.id),
            r.at,
        )
        for r in rows
    ]


# Badge scanners -------------------------------------------------------------------------------
@dataclass
class BadgeReport:
    """What an import of a badge scanner's export did, row by row."""

    saved: int = 0  # new leads
    attached: int = 0  # people added to a customer already in the book (same SIREN, e-mail domain, phone)
    #: Not imported, with the reason: a typo to fix, a person already in the book, a name close to
    #: a customer's (the rep decides with the quick form), a row the file had twice.
    review: list[tuple[LeadDraft, str]] = field(default_factory=list)


def import_badges(
    *,
    session: Session,
    event_id: str,
    drafts: list[LeadDraft],
    author_id: str | None,
    zone: ZoneInfo,
    follow_up_reason: str,
    now: datetime | None = None,
) -> BadgeReport:
    """Save each scanned badge as a lead of the event, like the quick form does, one transaction
    per person. A person whose company the book has by SIREN, phone or e-mail domain is attached
    to it; someone already in the book (same e-mail) or whose company only has a close name is
    left for the rep to decide; so is a row the file holds twice or that does not check.
    A person agreed to e-mails only when the file's consent column said yes for them (a file
    without one gives no consent)."""
    report = BadgeReport()
    index = DuplicateIndex(session)
    seen: set[str] = set()
    for draft in drafts:
        checked = check_lead(draft)
        if checked.problems:
            report.review.append((draft, "; ".join(checked.problems.values())))
            continue
        lead = checked.draft
        key = (lead.email or "").lower() or f"{lead.last_name}|{lead.company}".lower()
        if key in seen:
            report.review.append((draft, "twice in the file"))
            continue
        seen.add(key)
        matches = index.match(lead)
        attach_to = None
        if matches:
            best = matches[0]
            if "email" in best.reasons:
                report.review.append((draft, f"already in the book ({best.account_name})"))
                continue
            if not {"siren", "phone", "domain"} & set(best.reasons):
                report.review.append((draft, f"maybe {best.account_name}"))
                continue
            attach_to = best.account_id
        capture_lead(
            session=session,
            event_id=event_id,
            draft=lead,
            attach_to=attach_to,
            author_id=author_id,
            follow_up_reason=follow_up_reason,
            zone=zone,
            now=now,
        )
        if attach_to is None:
            report.saved += 1
        else:
            report.attached += 1
    return report
