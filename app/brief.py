"""The pre-visit brief: at most seven points a rep must know before walking in, most important
first, each with the facts that explain it.

Plain Python over plain facts (no database, no screen): `app.card` gathers the facts from the
replica, the screens and `terrain card --json` put each point in words (`app.i18n`).

The rules, each one a point when it holds on `today`:

- overdue: open invoices past their due date (amount, count, the oldest's days late);
- tickets: open complaints, returns or after-sales requests (the most urgent named);
- competitor: the current competitor's contract ends within 90 days;
- reorder: the account's own rhythm, the median gap between its last (up to 13) order days,
  says an order is due: no order for at least that long. Needs three order days;
- next_steps: the next steps written at the last visit done;
- birthday: a contact's birthday in the next 14 days;
- stopped: products bought in at least three orders whose last purchase is older than both
  90 days and twice their own usual gap, while the account kept ordering other things;
- next_best: products that the accounts buying most like this one buy, and it never bought;
- rfm: its RFM segment, and the scores behind it.

Each point has a priority; the seven highest are kept. An overdue payment or an urgent
complaint comes before any sales idea: a rep must not pitch to a customer who waits for them.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.figures import Rfm

__all__ = [
    "MAX_POINTS",
    "BriefFacts",
    "BriefPoint",
    "OpenTicketFact",
    "ProductHistory",
    "Suggestion",
    "buying_rhythm_days",
    "next_birthday",
    "pre_visit_brief",
    "stopped_products",
]

MAX_POINTS = 7
RHYTHM_GAPS = 12
STOPPED_MIN_ORDERS = 3
STOPPED_MIN_DAYS = 90
BIRTHDAY_DAYS = 14
CONTRACT_END_DAYS = 90


@dataclass(frozen=True, slots=True)
class ProductHistory:
    """What one account bought of one product."""

    product_id: str
    name: str
    orders: int
    quantity: int
    net_amount: int
    first_on: date
    last_on: date


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A product the account never bought, bought by `buyers` of its `neighbours` most similar accounts."""

    product_id: str
    name: str
    buyers: int
    neighbours: int


@dataclass(frozen=True, slots=True)
class OpenTicketFact:
    subject: str
    kind: str
    priority: str
    opened_on: date


@dataclass(frozen=True, slots=True)
class BriefFacts:
    today: date
    currency: str
    order_days: list[date] = field(default_factory=list)  # distinct days with an order, ascending
    overdue: list[tuple[int, int]] = field(default_factory=list)  # (open amount, days late) per invoice
    open_tickets: list[OpenTicketFact] = field(default_factory=list)
    products: list[ProductHistory] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    last_visit: tuple[date, str] | None = None  # (day, next steps written then)
    birthdays: list[tuple[str, date]] = field(default_factory=list)  # (contact name, date of birth)
    competitor: str | None = None
    competitor_contract_end: date | None = None
    rfm: Rfm | None = None


@dataclass(frozen=True, slots=True)
class BriefPoint:
    kind: str
    priority: int
    facts: dict[str, Any]


def buying_rhythm_days(order_days: list[date]) -> float | None:
    """The median gap in days between the last order days (None under three order days)."""
    recent = order_days[-(RHYTHM_GAPS + 1) :]
    if len(recent) < 3:
        return None
    return statistics.median((b - a).days for a, b in zip(recent, recent[1:], strict=False))


def next_birthday(born: date, today: date) -> date:
    """The next anniversary on or after today; 29 February falls on 28 February in other years."""
    for year in (today.year, today.year + 1):
        try:
            day = born.replace(year=year)
        except ValueError:
            day = date(year, 2, 28)
        if day >= today:
            return day
    raise AssertionError("unreachable: next year's anniversary is after today")


def stopped_products(products: list[ProductHistory], last_order_on: date | None, today: date) -> list[ProductHistory]:
    """Products the account used to buy regularly and stopped, the biggest spend first."""
    if last_order_on is None:
        return []
    stopped = []
    for product in products:
        if product.orders < STOPPED_MIN_ORDERS or product.last_on >= last_order_on:
            continue
        usual_gap = (product.last_on - product.first_on).days / (product.orders - 1)
        if (today - product.last_on).days > max(STOPPED_MIN_DAYS, 2 * usual_gap):
            stopped.append(product)
    return sorted(stopped, key=lambda p: (-p.net_amount, p.name))


def _overdue(facts: BriefFacts) -> BriefPoint | None:
    if not facts.overdue:
        return None
    oldest = max(days for _amount, days in facts.overdue)
    amount = sum(amount for amount, _days in facts.overdue)
    return BriefPoint(
        "overdue",
        100 if oldest >= 30 else 92,
        {"amount": amount, "currency": facts.currency, "invoices": len(facts.overdue), "oldest_days": oldest},
    )


def _tickets(facts: BriefFacts) -> BriefPoint | None:
    if not facts.open_tickets:
        return None
    urgent = sorted(facts.open_tickets, key=lambda t: (t.priority != "high", t.opened_on))[0]
    return BriefPoint(
        "tickets",
        96 if urgent.priority == "high" else 88,
        {
            "count": len(facts.open_tickets),
            "subject": urgent.subject,
            "kind": urgent.kind,
            "days_open": (facts.today - urgent.opened_on).days,
        },
    )


def _competitor(facts: BriefFacts) -> BriefPoint | None:
    end = facts.competitor_contract_end
    if not facts.competitor or end is None or not 0 <= (end - facts.today).days <= CONTRACT_END_DAYS:
        return None
    days = (end - facts.today).days
    return BriefPoint(
        "competitor", 94 if days <= 30 else 70, {"competitor": facts.competitor, "ends_on": end, "days": days}
    )


def _reorder(facts: BriefFacts) -> BriefPoint | None:
    rhythm = buying_rhythm_days(facts.order_days)
    if rhythm is None or rhythm <= 0:
        return None
    last = facts.order_days[-1]
    since = (facts.today - last).days
    if since < rhythm:
        return None
    return BriefPoint(
        "reorder",
        85 if since >= 1.5 * rhythm else 80,
        {"every_days": round(rhythm), "days_since": since, "last_order_on": last},
    )


def _next_steps(facts: BriefFacts) -> BriefPoint | None:
    if facts.last_visit is None or not facts.last_visit[1].strip():
        return None
    day, steps = facts.last_visit
    return BriefPoint("next_steps", 78, {"visited_on": day, "next_steps": steps.strip()})


def _birthday(facts: BriefFacts) -> BriefPoint | None:
    coming = sorted((next_birthday(born, facts.today), name) for name, born in facts.birthdays if born is not None)
    coming = [(day, name) for day, name in coming if (day - facts.today).days <= BIRTHDAY_DAYS]
    if not coming:
        return None
    day, name = coming[0]
    days = (day - facts.today).days
    return BriefPoint("birthday", 75 if days <= 3 else 45, {"contact": name, "on": day, "days": days})


def _stopped(facts: BriefFacts) -> BriefPoint | None:
    last_order = facts.order_days[-1] if facts.order_days else None
    stopped = stopped_products(facts.products, last_order, facts.today)[:3]
    if not stopped:
        return None
    return BriefPoint(
        "stopped",
        60,
        {"products": [{"name": p.name, "orders": p.orders, "last_on": p.last_on} for p in stopped]},
    )


def _next_best(facts: BriefFacts) -> BriefPoint | None:
    if not facts.suggestions:
        return None
    top = facts.suggestions[:3]
    return BriefPoint(
        "next_best",
        50,
        {
            "products": [{"name": s.name, "buyers": s.buyers} for s in top],
            "neighbours": top[0].neighbours,
        },
    )


def _rfm(facts: BriefFacts) -> BriefPoint | None:
    if facts.rfm is None:
        return None
    scores = facts.rfm
    urgent = {"at_risk": 72, "hibernating": 55}
    return BriefPoint(
        "rfm",
        urgent.get(scores.segment, 30),
        {
            "segment": scores.segment,
            "r": scores.r,
            "f": scores.f,
            "m": scores.m,
            "recency_days": scores.recency_days,
            "frequency": scores.frequency,
        },
    )


_RULES = (_overdue, _tickets, _competitor, _reorder, _next_steps, _birthday, _stopped, _next_best, _rfm)


def pre_visit_brief(facts: BriefFacts) -> list[BriefPoint]:
    """The points that hold, most important first, at most seven."""
    points = [point for rule in _RULES if (point := rule(facts)) is not None]
    # Stable: equal priorities keep the rules' order, so the brief reads the same every time.
    points.sort(key=lambda p: -p.priority)
    return points[:MAX_POINTS]
