"""The customer card and the accounts list, read from the replica.

`customer_card` gathers what a rep needs before a visit: who the customer is, the people,
what they bought, what they owe, and what was said lately.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.models import Account, Activity, Contact, Invoice, Order, OrderLine, Product, Ticket, Visit
from app.search import search_index

__all__ = [
    "AccountSummary",
    "CustomerCard",
    "InvoiceLine",
    "OrderSummary",
    "card_as_json",
    "customer_card",
    "find_account",
    "search_accounts",
    "search_products",
]


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
class ContactLine:
    id: str
    name: str
    role: str | None
    email: str | None
    phone: str | None
    mobile: str | None
    preferred_channel: str | None
    is_primary: bool
    birthday: date | None
    hobbies: str | None


@dataclass(frozen=True, slots=True)
class ActivityLine:
    occurred_at: datetime
    kind: str
    subject: str | None
    summary: str | None


@dataclass(frozen=True, slots=True)
class CustomerCard:
    account: dict[str, Any]
    contacts: list[ContactLine]
    orders: list[OrderSummary]
    open_invoices: list[InvoiceLine]
    activities: list[ActivityLine]
    open_tickets: list[dict[str, Any]]
    next_visit: datetime | None
    currency: str
    revenue_12_months: int
    overdue_amount: int
    open_amount: int
    order_count: int = field(default=0)


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


def customer_card(*, session: Session, account_id: str, today: date, order_limit: int = 50) -> CustomerCard | None:
    account = session.get(Account, account_id)
    if account is None:
        return None
    contacts = session.exec(
        select(Contact)
        .where(Contact.account_id == account_id)
        .order_by(col(Contact.is_primary).desc(), col(Contact.last_name))
    ).all()
    orders = session.exec(
        select(Order).where(Order.account_id == account_id).order_by(col(Order.ordered_at).desc()).limit(order_limit)
    ).all()
    lines_by_order: dict[str, list[OrderLineSummary]] = {}
    if orders:
        for line in session.exec(select(OrderLine).where(col(OrderLine.order_id).in_([o.id for o in orders]))):
            lines_by_order.setdefault(line.order_id, []).append(
                OrderLineSummary(line.description, line.quantity, line.net_amount)
            )
    invoices = session.exec(
        select(Invoice).where(Invoice.account_id == account_id, Invoice.status == "open").order_by(col(Invoice.due_on))
    ).all()
    open_invoices = [
        InvoiceLine(
            i.id,
            i.number,
            i.issued_on,
            i.due_on,
            i.gross_amount,
            i.gross_amount - i.paid_amount,
            i.currency,
            max(0, (today - i.due_on).days),
        )
        for i in invoices
    ]
    activities = session.exec(
        select(Activity).where(Activity.account_id == account_id).order_by(col(Activity.occurred_at).desc()).limit(10)
    ).all()
    tickets = session.exec(
        select(Ticket)
        .where(Ticket.account_id == account_id, Ticket.status != "resolved")
        .order_by(col(Ticket.opened_at))
    ).all()
    next_visit = session.exec(
        select(Visit.starts_at)
        .where(
            Visit.account_id == account_id,
            Visit.status == "planned",
            Visit.starts_at >= datetime.combine(today, datetime.min.time()).astimezone(),
        )
        .order_by(col(Visit.starts_at))
    ).first()
    since = _one_year_before(today)
    revenue = session.exec(
        select(sa.func.coalesce(sa.func.sum(Order.net_amount), 0)).where(
            Order.account_id == account_id,
            Order.currency == account.currency,
            Order.ordered_at >= datetime.combine(since, datetime.min.time()).astimezone(),
        )
    ).one()
    order_count = session.exec(select(sa.func.count()).select_from(Order).where(Order.account_id == account_id)).one()
    return CustomerCard(
        account=account.model_dump(),
        contacts=[
            ContactLine(
                c.id,
                " ".join(p for p in (c.first_name, c.last_name) if p),
                c.role,
                c.email,
                c.phone,
                c.mobile,
                c.preferred_channel,
                c.is_primary,
                c.birthday,
                c.hobbies,
            )
            for c in contacts
        ],
        orders=[
            OrderSummary(
                o.id, o.number, o.ordered_at, o.net_amount, o.gross_amount, o.currency, lines_by_order.get(o.id, [])
            )
            for o in orders
        ],
        open_invoices=open_invoices,
        activities=[ActivityLine(a.occurred_at, a.kind, a.subject, a.summary) for a in activities],
        open_tickets=[
            {"subject": t.subject, "kind": t.kind, "status": t.status, "priority": t.priority, "opened_at": t.opened_at}
            for t in tickets
        ],
        next_visit=next_visit,
        currency=account.currency,
        revenue_12_months=int(revenue),
        overdue_amount=sum(i.open_amount for i in open_invoices if i.overdue and i.currency == account.currency),
        open_amount=sum(i.open_amount for i in open_invoices if i.currency == account.currency),
        order_count=int(order_count),
    )


def _one_year_before(day: date) -> date:
    """The same day a year earlier; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def card_as_json(card: CustomerCard) -> dict[str, Any]:
    data = asdict(card)
    for invoice, source in zip(data["open_invoices"], card.open_invoices, strict=True):
        invoice["overdue"] = source.overdue
    return dict(_jsonable(data))
