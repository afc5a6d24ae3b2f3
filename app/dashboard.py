"""The figures of a book of accounts over a period, read from a database with the shared models:
the device's replica (the rep's book) or the server's (a manager's team, `GET /api/v1/figures`).
The definitions are in `app.figures`."""

from __future__ import annotations

from collections import Counter
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
    rfm,
    sales_cycle_days,
)
from app.models import Account, Opportunity, Order, SurveyResponse, Ticket

__all__ = ["book_figures", "book_rfm"]


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _edge(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def book_figures(*, session: Session, start: date, end: date, scope: Any = None) -> dict[str, Any]:
    """Every figure over [start, end] for the accounts matching `scope` (a WHERE clause on
    Account; None: every account in the database). Days are UTC days."""
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
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "active_at_start": len(active_accounts(orders, start)),
        "active_at_end": len(active_accounts(orders, end)),
        "churn_rate": churn_rate(orders, start, end),
        "acquisition_rate": acquisition_rate(orders, start, end),
        "orders": len(in_period),
        "revenue_net_amount": sum(o.net_amount for o in in_period),
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
