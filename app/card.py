"""The customer card and the accounts list, read from the replica.

`customer_card` gathers everything a rep needs before a visit, section by section: who the
customer is and how it came, the people, what it bought and when, what it owes and how it pays,
every exchange, its complaints, its campaign and survey answers, the competition, the deals
under way, and the pre-visit brief built from all of it (`app.brief`).

Every section is one indexed query through SQLAlchemy Core or the DB-API (no ORM objects),
and the database sums and groups: on a 5,000-account book a card takes about 7 ms, that of an
account with 2,000 orders about 35 ms, less than a plain read of its lines (bench/card.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from app.brief import (
    BriefFacts,
    BriefPoint,
    OpenTicketFact,
    ProductHistory,
    Suggestion,
    next_birthday,
    pre_visit_brief,
)
from app.figures import Rfm
from app.models import (
    Account,
    Activity,
    Campaign,
    CampaignResponse,
    Contact,
    Invoice,
    LifecycleStageChange,
    Opportunity,
    Order,
    OrderLine,
    Payment,
    Product,
    Quote,
    Reminder,
    SurveyResponse,
    Ticket,
    Visit,
    table_of,
    utc_day,
)
from app.search import search_index

__all__ = [
    "AccountSummary",
    "CustomerCard",
    "InvoiceLine",
    "OrderSummary",
    "card_as_json",
    "customer_card",
    "find_account",
    "month_starts",
    "search_accounts",
    "search_products",
]

#: How many months the revenue chart covers, this one included.
CHART_MONTHS = 24
RECENT_ORDERS = 50
TIMELINE_ITEMS = 40
#: Next-best products: the account's best products looked up, the similar accounts kept.
SEED_PRODUCTS = 5
NEIGHBOURS = 10
NEIGHBOUR_ORDERS = 12
OPEN_QUOTE_STATUSES = ("draft", "sent", "accepted")


@dataclass(frozen=True, slots=True)
class AccountSummary:
    id: str
    name: str
    city: str | None
    postcode: str | None
    lifecycle_stage: str


@dataclass(frozen=True, slots=True)
class OrderLineSummary:
    description: str
    quantity: int
    net_amount: int


@dataclass(frozen=True, slots=True)
class OrderSummary:
    id: str
    number: str | None
    ordered_at: datetime
    status: str
    net_amount: int
    gross_amount: int
    currency: str
    lines: list[OrderLineSummary]


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    id: str
    number: str
    issued_on: date
    due_on: date
    gross_amount: int
    open_amount: int
    currency: str
    days_overdue: int

    @property
    def overdue(self) -> bool:
        return self.days_overdue > 0


@dataclass(frozen=True, slots=True)
class PaymentLine:
    paid_on: date
    amount: int
    currency: str
    method: str
    invoice_number: str
    days_late: int


@dataclass(frozen=True, slots=True)
class ContactLine:
    id: str
    name: str
    role: str | None
    email: str | None
    phone: str | None
    mobile: str | None
    preferred_channel: str | None
    responsiveness: str | None
    is_primary: bool
    birthday: date | None
    next_birthday: date | None
    family: str | None
    hobbies: str | None
    associations: str | None
    social_profiles: dict[str, str]
    consent: dict[str, bool]


@dataclass(frozen=True, slots=True)
class StageChange:
    from_stage: str | None
    to_stage: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One exchange with the customer: an activity (call, e-mail, meeting, SMS, note) or a visit."""

    occurred_at: datetime
    kind: str
    direction: str | None
    subject: str | None
    summary: str | None


@dataclass(frozen=True, slots=True)
class TicketLine:
    kind: str
    subject: str
    status: str
    priority: str
    opened_at: datetime
    resolved_at: datetime | None
    resolved_on_first_contact: bool
    satisfaction: int | None


@dataclass(frozen=True, slots=True)
class CampaignAnswer:
    campaign: str
    responded_at: datetime
    response: str


@dataclass(frozen=True, slots=True)
class SurveyAnswer:
    kind: str
    score: int
    answered_at: datetime
    comment: str | None


@dataclass(frozen=True, slots=True)
class OpportunityLine:
    name: str
    stage: str
    amount: int
    currency: str
    probability_pct: int
    expected_close: date | None
    closed_at: datetime | None
    lost_reason: str | None
    competitor: str | None


@dataclass(frozen=True, slots=True)
class QuoteSummary:
    id: str
    number: str
    status: str
    valid_until: date | None
    gross_amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class ReminderLine:
    due_at: datetime
    reason: str
    rule: str | None


@dataclass(frozen=True, slots=True)
class MonthRevenue:
    month: date  # its first day
    net_amount: int
    orders: int


@dataclass(frozen=True, slots=True)
class CustomerCard:
    account: dict[str, Any]
    currency: str
    brief: list[BriefPoint]
    rfm: Rfm | None
    stage_history: list[StageChange]
    contacts: list[ContactLine]
    # Purchases
    order_count: int
    order_days: list[date]  # the days it ordered on (UTC), the first first
    revenue_12_months: int
    revenue_by_month: list[MonthRevenue]  # CHART_MONTHS months, the oldest first, this one last
    year_to_date: int
    last_year_to_date: int
    top_products: list[ProductHistory]
    orders: list[OrderSummary]
    # Payments
    open_invoices: list[InvoiceLine]
    open_amount: int
    overdue_amount: int
    average_days_late: float | None
    payments: list[PaymentLine]
    # Exchanges, complaints, campaigns and surveys
    timeline: list[TimelineItem]
    tickets: list[TicketLine]
    campaign_answers: list[CampaignAnswer]
    survey_answers: list[SurveyAnswer]
    # Competition and deals
    lost_reasons: list[str]
    opportunities: list[OpportunityLine]
    open_quotes: list[QuoteSummary]
    reminders: list[ReminderLine]
    next_visit: datetime | None
    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def open_tickets(self) -> list[TicketLine]:
        return [t for t in self.tickets if t.status != "resolved"]


def search_accounts(*, session: Session, query: str = "", limit: int = 50) -> list[AccountSummary]:
    """Accounts matching every typed word as a prefix (any case, any accents) in their name, town,
    postcode, SIREN or e-mail, or in one of their contacts' names, e-mails or roles; best first.
    With nothing typed: every account, by name."""
    if not query.strip():
        rows = session.exec(select(Account).order_by(col(Account.name)).limit(limit)).all()
    else:
        hits = search_index(session.connection(), query, kinds=("account", "contact"), limit=limit * 4)
        ranked = list(dict.fromkeys(hit.account_id for hit in hits if hit.account_id))[:limit]
        found = {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(ranked)))}
        rows = [found[i] for i in ranked if i in found]
    return [AccountSummary(a.id, a.name, a.billing_city, a.billing_postcode, a.lifecycle_stage) for a in rows]


def search_products(*, session: Session, query: str, limit: int = 50) -> list[Product]:
    """Products matching every typed word as a prefix in their name, reference or category."""
    hits = search_index(session.connection(), query, kinds=("product",), limit=limit)
    found = {p.id: p for p in session.exec(select(Product).where(col(Product.id).in_([h.ref_id for h in hits])))}
    return [found[h.ref_id] for h in hits if h.ref_id in found]


def browse_catalogue(
    *, session: Session, query: str = "", category: str | None = None, limit: int = 200
) -> list[Product]:
    """The products on sale as last synced: those matching `query` (as `search_products`) or all,
    of one category or all, by category then name."""
    statement = select(Product).where(Product.active)
    if category:
        statement = statement.where(Product.category == category)
    if query.strip():
        ids = [p.id for p in search_products(session=session, query=query, limit=max(limit, 500))]
        statement = statement.where(col(Product.id).in_(ids))
    return list(session.exec(statement.order_by(col(Product.category), col(Product.name)).limit(limit)))


def product_categories(*, session: Session) -> list[str]:
    return list(session.exec(select(Product.category).where(Product.active).distinct().order_by(col(Product.category))))


def find_account(*, session: Session, query: str) -> Account | None:
    """An account by id, else by exact name, else the only one whose name contains `query`."""
    account = session.get(Account, query)
    if account is not None:
        return account
    exact = session.exec(select(Account).where(col(Account.name).ilike(query))).all()
    if len(exact) == 1:
        return exact[0]
    partial = session.exec(select(Account).where(col(Account.name).ilike(f"%{query}%")).limit(2)).all()
    return partial[0] if len(partial) == 1 else None


def _edge(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _year_before(day: date) -> date:
    """The same day a year earlier; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def month_starts(today: date, months: int = CHART_MONTHS) -> list[date]:
    """The first days of the `months` months ending with today's, the oldest first."""
    year, month = today.year, today.month
    starts = []
    for _ in range(months):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


# Each section is read by one function over the connection; `customer_card` puts them together.
def _contacts(conn: Connection, account_id: str, today: date) -> list[ContactLine]:
    c = table_of(Contact).c
    rows = conn.execute(
        sa.select(table_of(Contact)).where(c.account_id == account_id).order_by(c.is_primary.desc(), c.last_name)
    ).mappings()
    return [
        ContactLine(
            r["id"],
            " ".join(p for p in (r["first_name"], r["last_name"]) if p),
            r["role"],
            r["email"],
            r["phone"],
            r["mobile"],
            r["preferred_channel"],
            r["responsiveness"],
            bool(r["is_primary"]),
            r["birthday"],
            next_birthday(r["birthday"], today) if r["birthday"] else None,
            r["family"],
            r["hobbies"],
            r["associations"],
            dict(r["social_profiles"] or {}),
            {ch: bool(r[f"consent_{ch}"]) for ch in ("email", "sms", "phone", "post")},
        )
        for r in rows
    ]


def _orders(conn: Connection, account_id: str, currency: str, today: date) -> dict[str, Any]:
    """Counts, order days, the revenue by month, this year against last year, and the recent
    orders with their lines: the account's orders summed by day in one query, the rest here."""
    o = table_of(Order).c
    in_currency = o.currency == currency
    day = utc_day(o.ordered_at)
    by_day = conn.execute(
        sa.select(
            day,
            sa.func.count(),
            sa.func.sum(sa.case((in_currency, o.net_amount), else_=0)),
            sa.func.sum(sa.case((in_currency, 1), else_=0)),
        )
        .where(o.account_id == account_id, o.status != "cancelled")
        .group_by(day)
        .order_by(day)
    ).all()
    days = [(date.fromisoformat(d), int(n), int(net), int(n_in_currency)) for d, n, net, n_in_currency in by_day]
    months = month_starts(today)
    by_month = dict.fromkeys(months, (0, 0))
    for d, _n, net, n_in_currency in days:
        month = d.replace(day=1)
        if month in by_month:
            total, count = by_month[month]
            by_month[month] = (total + net, count + n_in_currency)

    def revenue(first: date, last: date) -> int:
        return sum(net for d, _n, net, _c in days if first <= d <= last)

    recent = conn.execute(
        sa.select(o.id, o.number, o.ordered_at, o.status, o.net_amount, o.gross_amount, o.currency)
        .where(o.account_id == account_id)
        .order_by(o.ordered_at.desc())
        .limit(RECENT_ORDERS)
    ).all()
    lines: dict[str, list[OrderLineSummary]] = {}
    if recent:
        ol = table_of(OrderLine).c
        for order_id, description, quantity, net in conn.execute(
            sa.select(ol.order_id, ol.description, ol.quantity, ol.net_amount).where(
                ol.order_id.in_([r.id for r in recent])
            )
        ):
            lines.setdefault(order_id, []).append(OrderLineSummary(description, quantity, net))
    return {
        "order_count": sum(n for _d, n, _net, _c in days),
        "order_days": [d for d, *_rest in days],
        # The 365 days ending today, as the figures count a year.
        "revenue_12_months": revenue(today - timedelta(days=364), today),
        "revenue_by_month": [MonthRevenue(m, *by_month[m]) for m in months],
        "year_to_date": revenue(date(today.year, 1, 1), today),
        "last_year_to_date": revenue(date(today.year - 1, 1, 1), _year_before(today)),
        "orders": [OrderSummary(*r[:7], lines.get(r.id, [])) for r in recent],
    }


# The account's orders first, kept apart (SQLite indexes them on the fly), then their lines:
# a fifth faster than looking each line's order up in the whole order table.
_PRODUCT_HISTORY = """
WITH o AS MATERIALIZED (
    SELECT id, substr(ordered_at, 1, 10) AS day FROM "order" WHERE account_id = ?1 AND status != 'cancelled'
)
SELECT x.product_id, x.orders, x.quantity, x.net, x.first_on, x.last_on, p.name
FROM (
    SELECT ol.product_id, count(DISTINCT ol.order_id) AS orders, sum(ol.quantity) AS quantity,
           sum(ol.net_amount) AS net, min(o.day) AS first_on, max(o.day) AS last_on
    FROM order_line ol JOIN o ON o.id = ol.order_id
    WHERE ol.account_id = ?1 AND ol.product_id IS NOT NULL
    GROUP BY ol.product_id
) x JOIN product p ON p.id = x.product_id
"""


def _product_history(conn: Connection, account_id: str) -> list[ProductHistory]:
    """What the account bought of each product, in orders, quantity, net revenue, first and last
    day (UTC). Straight through the DB-API: a big account has thousands of rows here."""
    return [
        ProductHistory(pid, name, n, q, net, date.fromisoformat(first), date.fromisoformat(last))
        for pid, n, q, net, first, last, name in conn.exec_driver_sql(_PRODUCT_HISTORY, (account_id,))
    ]


def _suggestions(conn: Connection, account_id: str, products: list[ProductHistory]) -> list[Suggestion]:
    """Products bought by the accounts that buy most like this one, that this one never bought.

    Similar accounts: the NEIGHBOURS buying the most of this account's SEED_PRODUCTS best
    products (by orders). Each neighbour's NEIGHBOUR_ORDERS latest orders say what it buys now; a product counts once per neighbour, the most shared first. Bounded work, whatever the
    book's size: the buyers of a few products (an index range each), then a few hundred lines
    of a few accounts. An account that buys everything weighs no more than any other."""
    if not products:
        return []
    seeds = [p.product_id for p in sorted(products, key=lambda p: (-p.orders, -p.net_amount))[:SEED_PRODUCTS]]
    ol = table_of(OrderLine).c
    shared = sa.func.count(sa.distinct(ol.product_id))
    similar = list(
        conn.execute(
            sa.select(ol.account_id)
            .where(ol.product_id.in_(seeds), ol.account_id != account_id)
            .group_by(ol.account_id)
            .order_by(shared.desc(), ol.account_id)
            .limit(NEIGHBOURS)
        ).scalars()
    )
    if not similar:
        return []
    # The lines of each neighbour's latest orders (a LIMIT per neighbour, hence the union), each
    # product once per neighbour, counted by neighbours; what this account buys is left out here.
    latest_orders = " UNION ALL ".join(
        'SELECT * FROM (SELECT id, account_id FROM "order" WHERE account_id = ? '
        "AND status != 'cancelled' ORDER BY ordered_at DESC LIMIT ?)"
        for _ in similar
    )
    counted = conn.exec_driver_sql(
        "SELECT product_id, count(*) AS buyers FROM (SELECT DISTINCT o.account_id, ol.product_id "
        f"FROM ({latest_orders}) o JOIN order_line ol ON ol.order_id = o.id WHERE ol.product_id IS NOT NULL) "
        "GROUP BY product_id HAVING count(*) >= 2 ORDER BY buyers DESC, product_id",
        tuple(value for neighbour in similar for value in (neighbour, NEIGHBOUR_ORDERS)),
    ).all()
    owned = {p.product_id for p in products}
    likely = [(pid, n) for pid, n in counted if pid not in owned][:10]
    if not likely:
        return []
    p = table_of(Product).c
    names = dict(
        conn.execute(sa.select(p.id, p.name).where(p.id.in_([pid for pid, _n in likely]), p.active.is_(True))).all()
    )
    ranked = sorted(((n, names[pid], pid) for pid, n in likely if pid in names), key=lambda x: (-x[0], x[1]))
    return [Suggestion(pid, name, n, len(similar)) for n, name, pid in ranked[:3]]


def _payments(conn: Connection, account_id: str, currency: str, today: date) -> dict[str, Any]:
    i, pay = table_of(Invoice).c, table_of(Payment).c
    open_invoices = [
        InvoiceLine(r.id, r.number, r.issued_on, r.due_on, r.gross_amount, r.gross_amount - r.paid_amount,
                    r.currency, max(0, (today - r.due_on).days))
        for r in conn.execute(
            sa.select(i.id, i.number, i.issued_on, i.due_on, i.gross_amount, i.paid_amount, i.currency)
            .where(i.account_id == account_id, i.status == "open")
            .order_by(i.due_on)
        )
    ]  # fmt: skip
    # Days late of the invoices paid in the last year: from the due day to the last payment.
    settled = conn.execute(
        sa.select(i.due_on, sa.func.max(pay.paid_on))
        .join_from(table_of(Invoice), table_of(Payment), pay.invoice_id == i.id)
        .where(i.account_id == account_id, i.status == "paid", pay.paid_on >= _year_before(today))
        .group_by(i.id, i.due_on)
    ).all()
    lateness = [max(0, (paid_on - due_on).days) for due_on, paid_on in settled]
    payments = [
        PaymentLine(r.paid_on, r.amount, r.currency, r.method, r.number, (r.paid_on - r.due_on).days)
        for r in conn.execute(
            sa.select(pay.paid_on, pay.amount, pay.currency, pay.method, i.number, i.due_on)
            .join_from(table_of(Payment), table_of(Invoice), i.id == pay.invoice_id)
            .where(pay.account_id == account_id)
            .order_by(pay.paid_on.desc())
            .limit(10)
        )
    ]
    return {
        "open_invoices": open_invoices,
        "open_amount": sum(x.open_amount for x in open_invoices if x.currency == currency),
        "overdue_amount": sum(x.open_amount for x in open_invoices if x.overdue and x.currency == currency),
        "average_days_late": sum(lateness) / len(lateness) if lateness else None,
        "payments": payments,
    }


def _timeline(conn: Connection, account_id: str) -> tuple[list[TimelineItem], tuple[date, str] | None]:
    """Every exchange, the latest first: activities, and the visits no activity already tells of.
    Also the last visit done with its next steps, for the brief."""
    a, v = table_of(Activity).c, table_of(Visit).c
    activities = conn.execute(
        sa.select(a.occurred_at, a.kind, a.direction, a.subject, a.summary, a.visit_id)
        .where(a.account_id == account_id)
        .order_by(a.occurred_at.desc())
        .limit(TIMELINE_ITEMS)
    ).all()
    told = {r.visit_id for r in activities if r.visit_id}
    visits = conn.execute(
        sa.select(v.id, v.starts_at, v.checked_in_at, v.purpose, v.report_notes, v.next_steps, v.status)
        .where(v.account_id == account_id, v.status.in_(("done", "checked_in")))
        .order_by(v.starts_at.desc())
        .limit(TIMELINE_ITEMS)
    ).all()
    items = [TimelineItem(r.occurred_at, r.kind, r.direction, r.subject, r.summary) for r in activities]
    items += [
        TimelineItem(r.checked_in_at or r.starts_at, "visit", None, r.purpose, r.report_notes)
        for r in visits
        if r.id not in told
    ]
    items.sort(key=lambda item: item.occurred_at, reverse=True)
    # The last visit reported on (a visit marked done with no report says nothing to follow up).
    last = next((r for r in visits if r.status == "done" and (r.report_notes or r.next_steps)), None)
    last_visit = (_utc_day(last.starts_at), last.next_steps or "") if last is not None else None
    return items[:TIMELINE_ITEMS], last_visit


def _tickets(conn: Connection, account_id: str) -> list[TicketLine]:
    t = table_of(Ticket).c
    rows = conn.execute(
        sa.select(t.kind, t.subject, t.status, t.priority, t.opened_at, t.resolved_at,
                  t.resolved_on_first_contact, t.satisfaction)
        .where(t.account_id == account_id)
        .order_by((t.status == "resolved").asc(), t.opened_at.desc())
        .limit(20)
    )  # fmt: skip
    return [TicketLine(*r[:6], bool(r[6]), r[7]) for r in rows]


def _campaigns_and_surveys(conn: Connection, account_id: str) -> tuple[list[CampaignAnswer], list[SurveyAnswer]]:
    cr, c, s = table_of(CampaignResponse).c, table_of(Campaign).c, table_of(SurveyResponse).c
    answers = [
        CampaignAnswer(*r)
        for r in conn.execute(
            sa.select(c.name, cr.responded_at, cr.response)
            .join_from(table_of(CampaignResponse), table_of(Campaign), c.id == cr.campaign_id)
            .where(cr.account_id == account_id)
            .order_by(cr.responded_at.desc())
            .limit(20)
        )
    ]
    surveys = [
        SurveyAnswer(*r)
        for r in conn.execute(
            sa.select(s.kind, s.score, s.answered_at, s.comment)
            .where(s.account_id == account_id)
            .order_by(s.answered_at.desc())
            .limit(20)
        )
    ]
    return answers, surveys


def _deals(conn: Connection, account_id: str) -> dict[str, Any]:
    op, q, r = table_of(Opportunity).c, table_of(Quote).c, table_of(Reminder).c
    opportunities = [
        OpportunityLine(*row)
        for row in conn.execute(
            sa.select(
                op.name,
                op.stage,
                op.amount,
                op.currency,
                op.probability_pct,
                op.expected_close,
                op.closed_at,
                op.lost_reason,
                op.competitor,
            )
            .where(op.account_id == account_id)
            .order_by(op.closed_at.is_not(None), op.expected_close, op.created_at.desc())
            .limit(20)
        )  # fmt: skip
    ]
    quotes = [
        QuoteSummary(row.id, row.legal_number or row.provisional_number, row.status, row.valid_until,
                     row.gross_amount, row.currency)
        for row in conn.execute(
            sa.select(q.id, q.legal_number, q.provisional_number, q.status, q.valid_until, q.gross_amount, q.currency)
            .where(q.account_id == account_id, q.status.in_(OPEN_QUOTE_STATUSES))
            .order_by(q.valid_until)
        )
    ]  # fmt: skip
    reminders = [
        ReminderLine(*row)
        for row in conn.execute(
            sa.select(r.due_at, r.reason, r.rule)
            .where(r.account_id == account_id, r.done.is_(False))
            .order_by(r.due_at)
            .limit(20)
        )
    ]
    return {"opportunities": opportunities, "open_quotes": quotes, "reminders": reminders}


def customer_card(
    *,
    session: Session,
    account_id: str,
    today: date,
    book_rfm: Mapping[str, Rfm] | None = None,
) -> CustomerCard | None:
    """The whole card of an account on `today` (a day of the rep's), or None if it is not here.

    `book_rfm`: the RFM scores of the rep's book as of today (`app.dashboard.book_rfm`), which
    ranks the account among the others; computed once per book, not per card."""
    conn = session.connection()
    row = conn.execute(sa.select(table_of(Account)).where(table_of(Account).c.id == account_id)).mappings().first()
    if row is None:
        return None
    account = Account.model_validate(dict(row)).model_dump()
    currency = account["currency"]
    s = table_of(LifecycleStageChange).c
    stage_history = [
        StageChange(*r)
        for r in conn.execute(
            sa.select(s.from_stage, s.to_stage, s.changed_at).where(s.account_id == account_id).order_by(s.changed_at)
        )
    ]
    contacts = _contacts(conn, account_id, today)
    orders = _orders(conn, account_id, currency, today)
    products = _product_history(conn, account_id)
    suggestions = _suggestions(conn, account_id, products)
    payments = _payments(conn, account_id, currency, today)
    timeline, last_visit = _timeline(conn, account_id)
    tickets = _tickets(conn, account_id)
    campaign_answers, survey_answers = _campaigns_and_surveys(conn, account_id)
    deals = _deals(conn, account_id)
    v = table_of(Visit).c
    next_visit = conn.execute(
        sa.select(v.starts_at)
        .where(v.account_id == account_id, v.status == "planned", v.starts_at >= _edge(today))
        .order_by(v.starts_at)
        .limit(1)
    ).scalar()
    rfm = book_rfm.get(account_id) if book_rfm is not None else None
    brief = pre_visit_brief(
        BriefFacts(
            today=today,
            currency=currency,
            order_days=orders["order_days"],
            overdue=[
                (i.open_amount, i.days_overdue)
                for i in payments["open_invoices"]
                if i.overdue and i.currency == currency
            ],
            open_tickets=[
                OpenTicketFact(t.subject, t.kind, t.priority, _utc_day(t.opened_at))
                for t in tickets
                if t.status != "resolved"
            ],
            products=products,
            suggestions=suggestions,
            last_visit=last_visit,
            birthdays=[(c.name, c.birthday) for c in contacts if c.birthday],
            competitor=account["competitor"],
            competitor_contract_end=account["competitor_contract_end"],
            rfm=rfm,
        )
    )
    lost_reasons = [r for r in (account["lost_reason"], *(o.lost_reason for o in deals["opportunities"])) if r]
    return CustomerCard(
        account=account,
        currency=currency,
        brief=brief,
        rfm=rfm,
        stage_history=stage_history,
        contacts=contacts,
        top_products=sorted(products, key=lambda p: (-p.net_amount, p.name))[:5],
        **orders,
        **payments,
        timeline=timeline,
        tickets=tickets,
        campaign_answers=campaign_answers,
        survey_answers=survey_answers,
        lost_reasons=lost_reasons,
        **deals,
        next_visit=next_visit,
        suggestions=suggestions,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def card_as_json(card: CustomerCard, describe: Any = None) -> dict[str, Any]:
    """The card as JSON types; `describe(point) -> str` adds each brief point's text."""
    data = asdict(card)
    for invoice, source in zip(data["open_invoices"], card.open_invoices, strict=True):
        invoice["overdue"] = source.overdue
    if card.rfm is not None:
        data["rfm"]["segment"] = card.rfm.segment
    if describe is not None:
        for point, brief_point in zip(data["brief"], card.brief, strict=True):
            point["text"] = describe(brief_point)
    return dict(_jsonable(data))
