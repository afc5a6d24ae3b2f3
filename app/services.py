"""The device as the app and the CLI see it: its replica, its sync engine, its status."""

from __future__ import annotations

import gc
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.agenda import (
    AgendaVisit,
    CheckIn,
    DayRoute,
    agenda_visit,
    cancel_visit,
    check_in,
    contact_choices,
    day_agenda,
    due_reminders,
    move_visit,
    plan_visit,
    reminders_on,
    todays_route,
    week_agenda,
    write_report,
)
from app.card import (
    AccountSummary,
    CustomerCard,
    browse_catalogue,
    customer_card,
    product_categories,
    search_accounts,
    search_products,
)
from app.credentials import best_token_store
from app.dashboard import Targets, book_figures, book_rfm
from app.duplicates import siren_key
from app.edits import (
    dismiss_rejected,
    edit_account,
    pending_changes,
    resend_rejected,
    resolve_conflict,
    update_record,
)
from app.figures import Rfm
from app.followup import Draft, audience_drafts, emails_of, event_drafts, send_drafts
from app.geocoding import Geocoder, GeocodeReport, geocode_pending, make_geocoder, waiting_accounts
from app.i18n import Translator
from app.ids import utcnow
from app.lead_import import LeadDraft, guess_mapping, parse_badge_csv
from app.leads import (
    BadgeReport,
    CapturedLead,
    DuplicateIndex,
    DuplicateMatch,
    EventSummary,
    LeadLine,
    capture_lead,
    event_leads,
    events,
    import_badges,
    open_event,
)
from app.models import Account, Campaign, EmailMessage, Product, Quote, QuoteLine, Reminder, Temperature
from app.nearby import NearbyAccount, nearby_accounts
from app.pipeline import (
    AccountColumn,
    OpportunityColumn,
    StageMove,
    account_board,
    move_account,
    move_opportunity,
    new_opportunity,
    opportunity_board,
    stage_history,
)
from app.preferences import badge_mapping, save_badge_mapping
from app.pricing import LineIn, PricedDocument, load_catalogue, price
from app.quote_pdf import QuoteNotFound, quote_pdf
from app.quotes import create_quote, lines_in_order, order_from_quote, set_quote_status
from app.reminders import MadeReminder, apply_reminder_rules
from app.replica import open_device_replica
from app.segments import (
    SegmentFilter,
    SegmentSummary,
    count_members,
    delete_segment,
    get_segment,
    list_segments,
    save_segment,
    segment_members,
)
from sync.engine import SyncEngine, TokenStore
from sync.state import OutboxEntry, SyncState

__all__ = ["Device", "InvalidServerUrl", "PlainHttpServer", "check_server_url", "device_status", "open_device"]

TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class InvalidServerUrl(ValueError):
    pass


class PlainHttpServer(InvalidServerUrl):
    """A server on another machine over plain http: passwords and customers would cross the
    network in clear. Refused unless the user explicitly allows it."""


def _loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_server_url(text: str, *, allow_plain_http: bool = False) -> str:
    """A server URL as typed by a person, checked and without its trailing slash. Plain http is
    taken for this machine only (loopback), unless `allow_plain_http`."""
    url = text.strip().rstrip("/")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidServerUrl(f"{text!r} is not a server address") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidServerUrl(f"{text!r} is not a server address: write it like https://crm.example.com")
    if parsed.scheme == "http" and not allow_plain_http and not _loopback(parsed.host):
        raise PlainHttpServer(
            f"{url} is not encrypted (http): use https, or allow plain http for this server explicitly"
        )
    return url


@dataclass(frozen=True, slots=True)
class DueReminder:
    id: str
    account_id: str
    account_name: str
    due_at: datetime
    reason: str
    rule: str | None


@dataclass(frozen=True, slots=True)
class ProductLine:
    """A product as a search result shows it: price and availability as last synced."""

    id: str
    name: str
    sku: str
    category: str
    list_price_amount: int
    currency: str
    in_stock: bool


def _listed(session: Session, reminders: list[Reminder]) -> list[DueReminder]:
    """Reminders as the Today screen lists them, with their customer's name."""
    ids = {r.account_id for r in reminders}
    names = dict(
        session.connection()
        .execute(sa.select(col(Account.id), col(Account.name)).where(col(Account.id).in_(ids)))
        .all()
    )
    return [DueReminder(r.id, r.account_id, names.get(r.account_id, ""), r.due_at, r.reason, r.rule) for r in reminders]


def _product_line(p: Product) -> ProductLine:
    return ProductLine(p.id, p.name, p.sku, p.category, p.list_price_amount, p.currency, p.in_stock)


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def _orders_version(session: Session) -> tuple[Any, ...]:
    """Changes whenever orders may have changed here: each pull moves the cursor, each order
    taken on the device adds to the outbox. Two indexed lookups, whatever the book's size."""
    conn = session.connection()
    cursor = conn.execute(sa.select(col(SyncState.value)).where(col(SyncState.key) == "cursor")).scalar()
    last_mid = conn.execute(sa.select(sa.func.max(col(OutboxEntry.mid)))).scalar()
    return (cursor, last_mid)


@dataclass
class Device:
    data_dir: Path
    replica: Engine
    engine: SyncEngine
    _rfm_cache: tuple[tuple[date, tuple[Any, ...]], dict[str, Rfm]] | None = field(default=None, repr=False)
    #: The language the rules word their reminders in (the app sets it from its preferences).
    language: str = "fr"
    _geocoder: tuple[str, Geocoder] | None = field(default=None, repr=False)
    _rules_ran_for: tuple[date, Any] | None = field(default=None, repr=False)
    _duplicates: tuple[tuple[Any, ...], DuplicateIndex] | None = field(default=None, repr=False)

    def connect(
        self, server_url: str, transport: httpx.BaseTransport | None = None, *, allow_plain_http: bool = False
    ) -> None:
        """Talk to this server from now on (the sign-in screen may name a new one)."""
        url = check_server_url(server_url, allow_plain_http=allow_plain_http)
        old = self.engine.http
        self.engine.http = httpx.Client(base_url=url, timeout=TIMEOUT, transport=transport)
        old.close()

    def close(self) -> None:
        self.engine.http.close()
        self.replica.dispose()

    # Trade fairs: events, and the leads met there.
    def events(self, today: date) -> list[EventSummary]:
        with Session(self.replica) as session:
            return events(session=session, today=today)

    def event(self, event_id: str) -> Campaign | None:
        with Session(self.replica) as session:
            found = session.get(Campaign, event_id)
            return found if found is not None and found.channel == "trade_fair" else None

    def open_event(self, name: str, place: str | None, starts_on: date | None, ends_on: date | None) -> str:
        with Session(self.replica) as session:
            event = open_event(
                session=session,
                name=name,
                place=place,
                starts_on=starts_on,
                ends_on=ends_on,
                author_id=self.engine.state().get("user_id"),
            )
            return event.id

    def duplicates(self, draft: LeadDraft, company_id: str | None = None) -> list[DuplicateMatch]:
        """The customers on this device a lead being typed may be (the index is built once until
        the replica changes: a pull or a local write)."""
        with Session(self.replica) as session:
            key = _orders_version(session)
            if self._duplicates is None or self._duplicates[0] != key:
                self._duplicates = (key, DuplicateIndex(session))
            index = self._duplicates[1]
        return index.match(draft, siren_key(company_id) if company_id else None)

    def capture_lead(
        self,
        event_id: str,
        draft: LeadDraft,
        *,
        zone: ZoneInfo,
        follow_up_reason: str,
        company_id: str | None = None,
        temperature: Temperature = Temperature.warm,
        product_ids: list[str] | None = None,
        next_step: str | None = None,
        language: str | None = None,
        attach_to: str | None = None,
    ) -> CapturedLead:
        with Session(self.replica) as session:
            return capture_lead(
                session=session,
                event_id=event_id,
                draft=draft,
                company_id=company_id,
                temperature=temperature,
                product_ids=product_ids,
                next_step=next_step,
                language=language,
                attach_to=attach_to,
                author_id=self.engine.state().get("user_id"),
                follow_up_reason=follow_up_reason,
                zone=zone,
            )

    def badge_columns(self, event_id: str, data: bytes) -> tuple[list[str], dict[str, str], list[tuple[int, str]]]:
        """A badge export's columns, the mapping to start from (the event's last one if its
        columns are all there, else a guess from the columns' names) and the file's problems."""
        read = parse_badge_csv(data, {})
        saved = badge_mapping(self.data_dir, event_id)
        if saved and set(saved) <= set(read.columns):
            return read.columns, saved, read.bad_rows
        return read.columns, guess_mapping(read.columns), read.bad_rows

    def import_badges(
        self, event_id: str, data: bytes, mapping: dict[str, str], *, zone: ZoneInfo, follow_up_reason: str
    ) -> tuple[BadgeReport, list[tuple[int, str]]]:
        """Import a badge export with the rep's mapping (kept for the event's next exports): what
        was saved, attached or left to review, and the rows that could not be read."""
        read = parse_badge_csv(data, mapping)
        if read.bad_rows and not read.drafts:
            return BadgeReport(), read.bad_rows
        save_badge_mapping(self.data_dir, event_id, mapping)
        with Session(self.replica) as session:
            report = import_badges(
                session=session,
                event_id=event_id,
                drafts=read.drafts,
                author_id=self.engine.state().get("user_id"),
                zone=zone,
                follow_up_reason=follow_up_reason,
            )
        return report, read.bad_rows

    # A manager's decisions on the server (online only).
    def audit(self, account_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The server's audit log of a customer (managers; online only: SyncError otherwise)."""
        events: list[dict[str, Any]] = self.engine.call(
            "GET", "/api/v1/audit", params={"account_id": account_id, "limit": str(limit)}
        )
        return events

    def merge_proposals(self) -> list[dict[str, Any]]:
        """The open merge proposals the signed-in manager may decide (the server's answer)."""
        found: list[dict[str, Any]] = self.engine.call("GET", "/api/v1/merges", params={"status": "open"})
        return found

    def decide_merge(self, proposal_id: str, action: str, keep: str | None = None) -> dict[str, Any]:
        """Merge the two accounts (keeping `keep`, by default the older) or say they differ; the
        device gets the result at its next sync. RequestRejected with the server's reason."""
        body: dict[str, Any] = {"action": action} | ({"keep": keep} if keep else {})
        decided: dict[str, Any] = self.engine.call("POST", f"/api/v1/merges/{proposal_id}", json=body)
        return decided

    def event_leads(self, event_id: str) -> list[LeadLine]:
        with Session(self.replica) as session:
            return event_leads(session=session, event_id=event_id)

    # What the screens ask of the device, each in its own replica session.
    def search(self, query: str, limit: int = 100) -> list[AccountSummary]:
        with Session(self.replica) as session:
            return search_accounts(session=session, query=query, limit=limit)

    def search_products(self, query: str, limit: int = 5) -> list[ProductLine]:
        with Session(self.replica) as session:
            return [_product_line(p) for p in search_products(session=session, query=query, limit=limit)]

    def catalogue(self, query: str = "", category: str | None = None) -> list[ProductLine]:
        with Session(self.replica) as session:
            return [_product_line(p) for p in browse_catalogue(session=session, query=query, category=category)]

    def product_categories(self) -> list[str]:
        with Session(self.replica) as session:
            return product_categories(session=session)

    def account_name(self, account_id: str) -> str | None:
        """The account's name (None if it is not on this device): for a page's title, no card read."""
        with Session(self.replica) as session:
            account = session.get(Account, account_id)
            return account.name if account is not None else None

    def card(self, account_id: str, today: date) -> CustomerCard | None:
        with Session(self.replica) as session:
            return customer_card(
                session=session, account_id=account_id, today=today, book_rfm=self.book_rfm(session, today)
            )

    def book_rfm(self, session: Session, day: date) -> dict[str, Rfm]:
        """The book's RFM scores as of `day`, computed once until the orders here change."""
        key = (day, _orders_version(session))
        if self._rfm_cache is None or self._rfm_cache[0] != key:
            self._rfm_cache = (key, book_rfm(session=session, day=day))
        return self._rfm_cache[1]

    # The agenda: days are the rep's (their time zone), every change goes through the outbox.
    def day(self, day: date, zone: ZoneInfo) -> list[AgendaVisit]:
        with Session(self.replica) as session:
            return day_agenda(session=session, day=day, zone=zone)

    def week(self, day: date, zone: ZoneInfo) -> list[AgendaVisit]:
        with Session(self.replica) as session:
            return week_agenda(session=session, day=day, zone=zone)

    def route(
        self,
        day: date,
        zone: ZoneInfo,
        start: tuple[float, float] | None,
        end: tuple[float, float] | None = None,
    ) -> DayRoute:
        """The day's route from `start` (home, or where the rep is) to `end` (None: back to the
        start); with no start, in time order."""
        with Session(self.replica) as session:
            return todays_route(session=session, day=day, zone=zone, start=start, end=end)

    def check_in(self, visit_id: str, at: datetime, lat: float | None, lon: float | None) -> CheckIn:
        with Session(self.replica) as session:
            return check_in(session=session, visit_id=visit_id, at=at, lat=lat, lon=lon)

    def write_report(
        self,
        visit_id: str,
        *,
        notes: str,
        outcome: str | None,
        next_steps: str | None,
        follow_up_on: date | None,
        zone: ZoneInfo,
        follow_up_reason: str,
        met_contact_id: str | None = None,
        products_presented: Sequence[str] = (),
    ) -> MadeReminder | None:
        with Session(self.replica) as session:
            return write_report(
                session=session,
                visit_id=visit_id,
                notes=notes,
                outcome=outcome,
                next_steps=next_steps,
                follow_up_on=follow_up_on,
                zone=zone,
                owner_id=self.engine.state().get("user_id"),
                follow_up_reason=follow_up_reason,
                met_contact_id=met_contact_id,
                products_presented=products_presented,
            )

    def plan_visit(
        self,
        account_id: str,
        starts_at: datetime,
        minutes: int,
        purpose: str | None,
        fixed_time: bool,
        contact_id: str | None = None,
    ) -> str:
        with Session(self.replica) as session:
            visit = plan_visit(
                session=session,
                account_id=account_id,
                starts_at=starts_at,
                minutes=minutes,
                contact_id=contact_id,
                purpose=purpose,
                fixed_time=fixed_time,
                rep_id=self.engine.state().get("user_id"),
            )
            return visit.id

    def move_visit(self, visit_id: str, starts_at: datetime) -> None:
        with Session(self.replica) as session:
            move_visit(session=session, visit_id=visit_id, starts_at=starts_at)

    def cancel_visit(self, visit_id: str) -> None:
        with Session(self.replica) as session:
            cancel_visit(session=session, visit_id=visit_id)

    def visit(self, visit_id: str) -> AgendaVisit | None:
        with Session(self.replica) as session:
            return agenda_visit(session=session, visit_id=visit_id)

    def contacts_of(self, account_id: str) -> list[tuple[str, str]]:
        """The account's contacts as (id, name), the main one first, for a picker."""
        with Session(self.replica) as session:
            return contact_choices(session=session, account_id=account_id)

    def nearby(self, lat: float, lon: float, radius_km: float, today: date, limit: int = 20) -> list[NearbyAccount]:
        with Session(self.replica) as session:
            return nearby_accounts(session=session, lat=lat, lon=lon, radius_km=radius_km, today=today, limit=limit)

    # Quotes: priced by the same engine as the server's, numbered here, signed on the screen.
    def price_quote(
        self, account_id: str, lines: Sequence[LineIn], discount_bp: int, day: date | None = None
    ) -> PricedDocument:
        """Priced as of `day` (the rep's day; default: today in UTC), as the server will."""
        with Session(self.replica) as session:
            catalogue = load_catalogue(
                session,
                account_id=account_id,
                product_ids=[line.product_id for line in lines],
                currency="EUR",
                day=day or utcnow().date(),
            )
        return price(catalogue, lines, currency="EUR", discount_bp=discount_bp)

    def create_quote(
        self,
        account_id: str,
        lines: Sequence[LineIn],
        discount_bp: int,
        valid_until: date | None,
        issued_on: date | None = None,
    ) -> str:
        with Session(self.replica) as session:
            quote = create_quote(
                session=session,
                account_id=account_id,
                lines=[
                    {"product_id": x.product_id, "quantity": x.quantity, "discount_bp": x.discount_bp} for x in lines
                ],
                discount_bp=discount_bp,
                valid_until=valid_until,
                author_id=self.engine.state().get("user_id"),
                issued_on=issued_on,
            )
            return quote.id

    def quote(self, quote_id: str) -> tuple[Quote, list[QuoteLine]] | None:
        """The quote and its lines as this device has them (detached copies)."""
        with Session(self.replica, expire_on_commit=False) as session:
            quote = session.get(Quote, quote_id)
            if quote is None:
                return None
            lines = list(session.exec(select(QuoteLine).where(QuoteLine.quote_id == quote_id)))
            return quote, lines_in_order(quote_id, lines)

    def set_quote_status(
        self, quote_id: str, status: str, signed_by: str | None = None, signature_svg: str | None = None
    ) -> None:
        with Session(self.replica) as session:
            set_quote_status(
                session=session, quote_id=quote_id, status=status, signed_by=signed_by, signature_svg=signature_svg
            )

    def order_from_quote(self, quote_id: str) -> str:
        """The accepted quote's order, sent to the server as a command; its id."""
        with Session(self.replica) as session:
            order = order_from_quote(session=session, quote_id=quote_id, author_id=self.engine.state().get("user_id"))
            return order.id

    def quote_pdf(self, quote_id: str, t: Translator) -> bytes:
        with Session(self.replica) as session:
            quote = session.get(Quote, quote_id)
            if quote is None:
                raise QuoteNotFound(f"no quote {quote_id} on this device")
            return quote_pdf(session=session, quote=quote, t=t)

    def reminders_due(self, now: datetime, zone: ZoneInfo) -> list[DueReminder]:
        """What is due today: the rules' reminders are made first (once each), then listed."""
        with Session(self.replica) as session:
            # The rules read the whole book: run them when the day changes or a pull brought
            # something (the rep's own edits come back with the pull that follows their push),
            # not at each redraw of the screen (a check-in, a report, a reminder done).
            key = (now.astimezone(zone).date(), _orders_version(session)[0])
            if key != self._rules_ran_for:
                apply_reminder_rules(
                    session=session,
                    now=now,
                    zone=zone,
                    owner_id=self.engine.state().get("user_id"),
                    describe=Translator(self.language, str(zone)).reminder_reason,
                )
                self._rules_ran_for = key
            return _listed(session, due_reminders(session=session, now=now, zone=zone))

    def reminders_on(self, day: date, zone: ZoneInfo) -> list[DueReminder]:
        """What falls due on another day than today (the Today screen of that day)."""
        with Session(self.replica) as session:
            return _listed(session, reminders_on(session=session, day=day, zone=zone))

    def reminder_done(self, reminder_id: str, at: datetime) -> None:
        with Session(self.replica) as session:
            update_record(
                session=session, entity="reminder", record_id=reminder_id, changes={"done": True, "done_at": at}
            )

    def snooze_reminder(self, reminder_id: str, until: datetime) -> None:
        with Session(self.replica) as session:
            update_record(session=session, entity="reminder", record_id=reminder_id, changes={"snoozed_until": until})

    def place_addresses(self, geocoder_url: str, limit: int = 20) -> GeocodeReport:
        """Give a position to the accounts waiting for one (new leads, imported addresses), when
        the geocoder answers; the positions sync like any edit. Slow (a request a second): call
        it off the screen's thread."""
        if self._geocoder is None or self._geocoder[0] != geocoder_url:
            self._geocoder = (geocoder_url, make_geocoder(geocoder_url))
        with Session(self.replica) as session:
            if not waiting_accounts(session=session):
                return GeocodeReport()
            return geocode_pending(session=session, geocode=self._geocoder[1], limit=limit)

    def role(self) -> str | None:
        """The signed-in user's role: rep, manager or admin (a manager's book is the team's)."""
        return self.engine.state().get("role")

    def figures(self, start: date, end: date) -> dict[str, Any]:
        """The figures of the book on this device over [start, end] (a rep's accounts, a
        manager's team's) against the targets the server gave at sign-in, and the revenue by month."""
        state = self.engine.state()
        targets = Targets(
            _int(state.get("monthly_revenue_target_amount")),
            _int(state.get("monthly_order_target")),
            state.get("target_currency") or "EUR",
        )
        with Session(self.replica) as session:
            return book_figures(session=session, start=start, end=end, targets=targets)

    def edit_account(self, account_id: str, changes: dict[str, Any]) -> None:
        with Session(self.replica) as session:
            edit_account(session=session, account_id=account_id, changes=changes)

    # The pipeline boards: a move shows at once; its history row comes from the server at the next pull.
    def account_board(self, today: date) -> list[AccountColumn]:
        with Session(self.replica) as session:
            return account_board(session=session, today=today)

    def opportunity_board(self) -> list[OpportunityColumn]:
        with Session(self.replica) as session:
            return opportunity_board(session=session)

    def move_account(
        self, account_id: str, stage: str, lost_reason: str | None = None, competitor: str | None = None
    ) -> None:
        """InvalidEdit when it cannot be moved there (lost without a reason)."""
        with Session(self.replica) as session:
            move_account(
                session=session, account_id=account_id, stage=stage, lost_reason=lost_reason, competitor=competitor
            )

    def move_opportunity(
        self, opportunity_id: str, stage: str, lost_reason: str | None = None, competitor: str | None = None
    ) -> None:
        """InvalidEdit when it cannot be moved there (lost without a reason)."""
        with Session(self.replica) as session:
            move_opportunity(
                session=session,
                opportunity_id=opportunity_id,
                stage=stage,
                lost_reason=lost_reason,
                competitor=competitor,
            )

    def new_opportunity(
        self,
        account_id: str,
        name: str,
        amount: int = 0,
        currency: str = "EUR",
        probability_pct: int = 10,
        expected_close: date | None = None,
    ) -> str:
        """A new opportunity of the account (in qualification), owned by the signed-in rep; its id."""
        with Session(self.replica) as session:
            return new_opportunity(
                session=session,
                account_id=account_id,
                name=name,
                amount=amount,
                currency=currency,
                probability_pct=probability_pct,
                expected_close=expected_close,
                owner_id=self.engine.state().get("user_id"),
            ).id

    def stage_history(self, account_id: str) -> list[StageMove]:
        with Session(self.replica) as session:
            return stage_history(session=session, account_id=account_id)

    def pending(self) -> dict[str, Any]:
        with Session(self.replica) as session:
            return pending_changes(session=session)

    def resolve_conflict(self, conflict_id: int, keep: str) -> None:
        with Session(self.replica) as session:
            resolve_conflict(session=session, conflict_id=conflict_id, keep=keep)

    def dismiss_rejected(self, mid: int) -> None:
        with Session(self.replica) as session:
            dismiss_rejected(session=session, mid=mid)

    def resend_rejected(self, mid: int) -> None:
        with Session(self.replica) as session:
            resend_rejected(session=session, mid=mid)

    # Segments: the rep's saved filters over the book, kept on this device only (never synced).
    def segments(self, today: date | None = None) -> list[SegmentSummary]:
        """The saved segments by name, each with how many accounts it holds as of `today`."""
        day = today or utcnow().date()
        with Session(self.replica) as session:
            return list_segments(session=session, rfm=lambda: self.book_rfm(session, day), today=day)

    def segment(self, segment_id: str) -> SegmentSummary:
        """A saved segment's name and filter (not counted); SegmentNotFound if not on this device."""
        with Session(self.replica) as session:
            return get_segment(session=session, segment_id=segment_id)

    def save_segment(self, name: str, filter: SegmentFilter, segment_id: str | None = None) -> str:
        """Save a new segment (or change `segment_id`); its id. InvalidSegment names the field."""
        with Session(self.replica) as session:
            return save_segment(session=session, name=name, filter=filter, segment_id=segment_id).id

    def delete_segment(self, segment_id: str) -> None:
        with Session(self.replica) as session:
            delete_segment(session=session, segment_id=segment_id)

    def segment_members(self, segment_id: str, today: date) -> list[str]:
        """The ids of the accounts in the segment now, by name: an e-mail's audience."""
        with Session(self.replica) as session:
            segment = get_segment(session=session, segment_id=segment_id)
            rfm = self.book_rfm(session, today) if segment.filter.rfm_segments else None
            return segment_members(session=session, segment_id=segment_id, rfm=rfm, today=today)

    def preview_segment(self, filter: SegmentFilter, today: date) -> int:
        """How many accounts the filter holds now (the form's count as the rep changes it)."""
        with Session(self.replica) as session:
            rfm = self.book_rfm(session, today) if filter.rfm_segments else None
            return count_members(session=session, filter=filter, rfm=rfm, today=today)

    def products(self, product_ids: Sequence[str]) -> list[ProductLine]:
        """These products as a search shows them (those on this device), in the order asked."""
        with Session(self.replica) as session:
            found = {p.id: p for p in session.exec(select(Product).where(col(Product.id).in_(product_ids)))}
        return [_product_line(found[i]) for i in product_ids if i in found]

    # Follow-up e-mails: drafted here, queued in the outbox, sent by the server's SMTP settings.
    def event_followups(self, campaign_id: str) -> list[Draft]:
        """A drafted follow-up for each person met at the event not yet e-mailed for it."""
        with Session(self.replica) as session:
            return event_drafts(session, campaign_id, self.engine.state().get("full_name") or "")

    def audience_followups(self, account_ids: Sequence[str], campaign_id: str | None = None) -> list[Draft]:
        with Session(self.replica) as session:
            return audience_drafts(session, account_ids, self.engine.state().get("full_name") or "", campaign_id)

    def send_followups(self, drafts: Sequence[Draft]) -> int:
        """Queue the e-mails as edited; how many. InvalidEdit names a draft that cannot go (none is queued)."""
        with Session(self.replica) as session:
            return send_drafts(session, drafts, self.engine.state().get("user_id"))

    def emails_of(self, account_id: str) -> list[EmailMessage]:
        with Session(self.replica) as session:
            return emails_of(session, account_id)


def open_device(
    data_dir: Path,
    *,
    server_url: str | None = None,
    allow_file_token: bool = False,
    allow_plain_http: bool = False,
    token_store: TokenStore | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Device:
    replica = open_device_replica(data_dir, allow_file_key=allow_file_token)  # encrypted if set so
    store = token_store or best_token_store(data_dir, allow_file=allow_file_token)
    engine = SyncEngine(replica=replica, http=httpx.Client(timeout=TIMEOUT), token_store=store)
    device = Device(data_dir, replica, engine)
    url = server_url or engine.state().get("server_url")
    if url:
        # A server signed in with before was accepted then (plain http included, if allowed).
        device.connect(url, transport, allow_plain_http=allow_plain_http or not server_url)
    # What start-up made (modules, the ORM's mappings, Flet's controls) lives as long as the app:
    # out of the cyclic collector's way, a full collection no longer walks it, which otherwise
    # stalls a keystroke in the search box for 50 ms now and then.
    gc.freeze()
    return device


def device_status(device: Device) -> dict[str, Any]:
    state = device.engine.state()
    changes = device.pending()
    counts = {}
    with device.replica.connect() as conn:
        for table in ("account", "contact", "order", "invoice", "visit"):
            counts[table] = conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()
    return {
        "server_url": state.get("server_url"),
        "user": state.get("username"),
        "device_id": state.get("device_id"),
        "cursor": state.get("cursor"),
        "last_sync_at": state.get("last_sync_at"),
        "last_error": state.get("last_error"),
        "last_error_at": state.get("last_error_at"),
        "pending_mutations": changes["pending"],
        "rejected_mutations": changes["rejected"],
        "conflicts": changes["conflicts"],
        "records": counts,
    }
