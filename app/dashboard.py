"""The figures of a book of accounts over a period, read from a database with the shared models:
the device's replica (the rep's book) or the server's (a manager's team, `GET /api/v1/figures`).
The definitions are in `app.figures`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, select

from app.figures import (
    WINDOW,
    OrderFact,
    Rfm,
    acquisition_rate,
    active_accounts,
    ces,
    churn_rate,
    close_rate,
    first_contact_resolution,
    nps,
    period_target,
    rfm,
    sales_cycle_days,
)
from app.models import Account, Opportunity, Order, SurveyResponse, Ticket

__all__ = ["Targets", "book_figures", "book_rfm", "monthly_revenue"]


@dataclass(frozen=True, slots=True)
class Targets:
    """Monthly targets (a rep's, or a team's summed): net revenue in minor units, and orders."""

    revenue_amount: int | None
    orders: int | None
    currency: str = "EUR"


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _edge(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def book_figures(
    *, session: Session, start: date, end: date, scope: Any = None, targets: Targets | None = None
) -> dict[str, Any]:
    """Every figure over [start, end] for the accounts matching `scope` (a WHERE clause on
    Account; None: every account in the database), and the revenue and orders against the
    `targets` for that period. Days are UTC days."""
    if end < start:
        raise ValueError("the period ends before it starts")
    accounts = select(Account.id)
    if scope is not None:
        accounts = accounts.where(scope)
    in_book = col(Order.account_id).in_(accounts)
    after_end = _edge(end + timedelta(days=1))
    # Every order up to the end: an account's first order ever decides whether it was acquired.
    orders = [
        OrderFact(account_id, _day(ordered_at), net)
        for account_id, ordered_at, net in session.exec(
            select(Order.account_id, Order.ordered_at, Order.net_amount).where(
                in_book, Order.status != "cancelled", Order.ordered_at < after_end
            )
        )
    ]
    in_period = [o for o in orders if start <= o.ordered_on <= end]
    opportunities = session.exec(
        select(Opportunity.stage, Opportunity.created_at, Opportunity.closed_at).where(
            col(Opportunity.account_id).in_(accounts), col(Opportunity.closed_at).is_not(None)
        )
    ).all()
    outcomes = [(stage, _day(closed)) for stage, _created, closed in opportunities if closed is not None]
    won = [(_day(created), _day(closed)) for stage, created, closed in opportunities if stage == "won" and closed]
    surveys = session.exec(
        select(SurveyResponse.kind, SurveyResponse.score).where(
            col(SurveyResponse.account_id).in_(accounts),
            SurveyResponse.answered_at >= _edge(start),
            SurveyResponse.answered_at < after_end,
        )
    ).all()
    resolved = session.exec(
        select(Ticket.resolved_on_first_contact, Ticket.resolved_at).where(
            col(Ticket.account_id).in_(accounts), col(Ticket.resolved_at).is_not(None)
        )
    ).all()
    scores = rfm(orders, end)
    revenue = sum(o.net_amount for o in in_period)
    revenue_target = period_target(targets.revenue_amount, start, end) if targets else None
    order_target = period_target(targets.orders, start, end) if targets else None
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "active_at_start": len(active_accounts(orders, start)),
        "active_at_end": len(active_accounts(orders, end)),
        "churn_rate": churn_rate(orders, start, end),
        "acquisition_rate": acquisition_rate(orders, start, end),
        "orders": len(in_period),
        "revenue_net_amount": revenue,
        "revenue_target_amount": revenue_target,
        "revenue_vs_target": revenue / revenue_target if revenue_target else None,
        "order_target": order_target,
        "orders_vs_target": len(in_period) / order_target if order_target else None,
        "close_rate": close_rate(outcomes, start, end),
        "sales_cycle_days": sales_cycle_days(won, start, end),
        "nps": nps(score for kind, score in surveys if kind == "nps"),
        "ces": ces(score for kind, score in surveys if kind == "ces"),
        "first_contact_resolution": first_contact_resolution(
            first for first, at in resolved if at is not None and start <= _day(at) <= end
        ),
        "rfm_segments": dict(sorted(Counter(s.segment for s in scores.values()).items())),
    }


def book_rfm(*, session: Session, day: date) -> dict[str, Rfm]:
    """RFM values and scores as of `day` of every account in the database with an order in the
    365 days before it (the scores rank each account among those)."""
    window = select(Order.account_id, Order.ordered_at, Order.net_amount).where(
        Order.status != "cancelled", Order.ordered_at >= _edge(day - WINDOW), Order.ordered_at < _edge(day)
    )
    return rfm((OrderFact(a, _day(at), net) for a, at, net in session.exec(window)), day)


def monthly_revenue(*, session: Session, start: date, end: date, scope: Any = None) -> list[dict[str, Any]]:
    """Net revenue and orders of each calendar month (UTC) touching [start, end], within it."""
    accounts = select(Account.id)
    if scope is not None:
        accounts = accounts.where(scope)
    months: dict[str, list[int]] = {}
    first = date(start.year, start.month, 1)
    while first <= end:
        months[f"{first:%Y-%m}"] = [0, 0]
        first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    for ordered_at, net in session.exec(
        select(Order.ordered_at, Order.net_amount).where(
            col(Order.account_id).in_(accounts),
            Order.status != "cancelled",
            Order.ordered_at >= _edge(start),
            Order.ordered_at < _edge(end + timedelta(days=1)),
        )
    ):
        month = months[f"{_day(ordered_at):%Y-%m}"]
        month[0] += net
        month[1] += 1
    return [{"month": m, "net_amount": net, "orders": n} for m, (net, n) in months.items()]
