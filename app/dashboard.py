"""The figures of a book of accounts over a period, read from a database with the shared models:
the device's replica (the rep's book) or the server's (a manager's team, `GET /api/v1/figures`).
The definitions are in `app.figures`."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from app.figures import (
    WINDOW,
    OrderFact,
    Rfm,
    account_cycle_days,
    acquisition_between,
    active_accounts,
    ces,
    churn_between,
    close_rate,
    first_contact_resolution,
    first_orders,
    monthly_totals,
    nps,
    period_target,
    rfm,
    sales_cycle_days,
    won_cycles,
)
from app.models import (
    Account,
    LifecycleStageChange,
    Opportunity,
    OpportunityStageChange,
    Order,
    SurveyResponse,
    Ticket,
    table_of,
    utc_day,
)

__all__ = ["Targets", "book_figures", "book_rfm"]


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


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Reading a book makes hundreds of thousands of small tuples, none of them in a cycle: the
    cyclic garbage collector would walk them again and again for nothing (a third of the time).
    Reference counting still frees everything; the collector is back on afterwards, unless
    someone else had turned it off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def book_figures(
    *, session: Session, start: date, end: date, scope: Any = None, targets: Targets | None = None
) -> dict[str, Any]:
    """Every figure over [start, end] for the accounts matching `scope` (a WHERE clause on
    Account; None: every account in the database, as on a device), the revenue and orders
    against the `targets` for that period, and the revenue by month. Days are UTC days.

    A book has hundreds of thousands of orders: they are read as plain tuples through Core,
    each active set is computed once."""
    with _no_cycle_collection():
        return _book_figures(session, start, end, scope, targets)


def _book_figures(session: Session, start: date, end: date, scope: Any, targets: Targets | None) -> dict[str, Any]:
    if end < start:
        raise ValueError("the period ends before it starts")
    conn = session.connection()
    o = table_of(Order).c

    def in_book(column: Any) -> Any:
        if scope is None:
            return sa.true()
        return column.in_(sa.select(table_of(Account).c.id).where(scope))

    after_end = _edge(end + timedelta(days=1))
    # Every order up to the end: an account's first order ever decides whether it was acquired.
    # The bound is on the day's text, not on ordered_at: nearly every order is before the end,
    # and SQLite would otherwise walk the ordered_at index, one table lookup per order.
    orders = [
        OrderFact(account_id, date.fromisoformat(day), net)
        for account_id, day, net in conn.execute(
            sa.select(o.account_id, utc_day(o.ordered_at), o.net_amount).where(
                in_book(o.account_id), o.status != "cancelled", utc_day(o.ordered_at) <= end.isoformat()
            )
        ).all()  # fetched at once: row by row costs twice as much
    ]
    in_period = [f for f in orders if start <= f.ordered_on <= end]
    op = table_of(Opportunity).c
    opportunities = conn.execute(
        sa.select(op.id, op.stage, op.created_at, op.closed_at).where(
            in_book(op.account_id), sa.or_(op.closed_at.is_not(None), op.stage == "won")
        )
    ).all()
    outcomes = [(stage, _day(closed)) for _id, stage, _created, closed in opportunities if closed is not None]
    won = won_cycles(
        ((i, stage, _day(created), _day(closed) if closed else None) for i, stage, created, closed in opportunities),
        _won_history(conn, in_book),
    )
    lc = table_of(LifecycleStageChange).c
    account_moves = [
        (account_id, stage, date.fromisoformat(day))
        for account_id, stage, day in conn.execute(
            sa.select(lc.account_id, lc.to_stage, utc_day(lc.changed_at)).where(
                in_book(lc.account_id),
                lc.to_stage.in_(("lead", "buyer", "client")),
                utc_day(lc.changed_at) <= end.isoformat(),
            )
        )
    ]
    sv = table_of(SurveyResponse).c
    surveys = conn.execute(
        sa.select(sv.kind, sv.score).where(
            in_book(sv.account_id), sv.answered_at >= _edge(start), sv.answered_at < after_end
        )
    ).all()
    tk = table_of(Ticket).c
    resolved = conn.execute(
        sa.select(tk.resolved_on_first_contact, tk.resolved_at).where(
            in_book(tk.account_id), tk.resolved_at >= _edge(start), tk.resolved_at < after_end
        )
    ).all()
    active_at_start, active_at_end = active_accounts(orders, start), active_accounts(orders, end)
    scores = rfm(orders, end)
    revenue = sum(f.net_amount for f in in_period)
    revenue_target = period_target(targets.revenue_amount, start, end) if targets else None
    order_target = period_target(targets.orders, start, end) if targets else None
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "active_at_start": len(active_at_start),
        "active_at_end": len(active_at_end),
        "churn_rate": churn_between(active_at_start, active_at_end),
        "acquisition_rate": acquisition_between(active_at_start, active_at_end, first_orders(orders), start, end),
        "orders": len(in_period),
        "currency": targets.currency if targets else "EUR",
        "revenue_net_amount": revenue,
        "revenue_target_amount": revenue_target,
        "revenue_vs_target": revenue / revenue_target if revenue_target else None,
        "order_target": order_target,
        "orders_vs_target": len(in_period) / order_target if order_target else None,
        "close_rate": close_rate(outcomes, start, end),
        "sales_cycle_days": sales_cycle_days(won, start, end),
        "account_cycle_days": account_cycle_days(account_moves, start, end),
        "nps": nps(score for kind, score in surveys if kind == "nps"),
        "ces": ces(score for kind, score in surveys if kind == "ces"),
        "first_contact_resolution": first_contact_resolution(bool(first) for first, _at in resolved),
        "rfm_segments": dict(sorted(Counter(s.segment for s in scores.values()).items())),
        "revenue_by_month": monthly_totals(in_period, start, end),
    }


def _won_history(conn: Any, in_book: Any) -> dict[str, tuple[date | None, date | None]]:
    """For each won opportunity with a stage history: the day of its creation's row and of its
    latest move to won (for `app.figures.won_cycles`)."""
    oc = table_of(OpportunityStageChange).c
    op = table_of(Opportunity).c
    created = sa.func.min(sa.case((oc.from_stage.is_(None), utc_day(oc.changed_at))))
    won_on = sa.func.max(sa.case((oc.to_stage == "won", utc_day(oc.changed_at))))
    rows = conn.execute(
        sa.select(oc.opportunity_id, created, won_on)
        .where(in_book(oc.account_id), oc.opportunity_id.in_(sa.select(op.id).where(op.stage == "won")))
        .group_by(oc.opportunity_id)
    )
    return {
        opportunity_id: (date.fromisoformat(first) if first else None, date.fromisoformat(won) if won else None)
        for opportunity_id, first, won in rows
    }


def book_rfm(*, session: Session, day: date) -> dict[str, Rfm]:
    """RFM values and scores as of `day` of every account in the database with an order in the
    365 days before it (the scores rank each account among those)."""
    window = select(Order.account_id, utc_day(Order.ordered_at), Order.net_amount).where(
        Order.status != "cancelled",
        utc_day(Order.ordered_at) >= (day - WINDOW).isoformat(),
        utc_day(Order.ordered_at) < day.isoformat(),
    )
    with _no_cycle_collection():
        rows = session.connection().execute(window).all()
        return rfm((OrderFact(a, date.fromisoformat(on), net) for a, on, net in rows), day)
