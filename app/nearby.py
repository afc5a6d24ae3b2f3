"""Nearby: the accounts within a distance of a position (the rep's, or a visit's), ranked by
what a stop there is worth, each with its distance and the facts behind its rank.

`visit_worth` is plain Python over plain facts; `nearby_accounts` gathers the facts from the
replica: the accounts inside a latitude/longitude box around the position (the exact geodesic
distance is measured on those only), then one grouped query each for their orders,
opportunities and visits.

The worth of a stop, in points (the higher, the sooner):

    score = REORDER_WEIGHT     * min(late_days / rhythm_days, REORDER_CAP)
          + OPPORTUNITY_WEIGHT * log10(1 + open_pipeline / MONEY_STEP)
          + REVENUE_WEIGHT     * log10(1 + revenue_365 / MONEY_STEP)
          + VISIT_WEIGHT       * min(days_since_visit, VISIT_CAP_DAYS) / VISIT_CAP_DAYS

- rhythm_days: the account's buying rhythm (`app.brief.buying_rhythm_days`: the median gap
  between its last order days; none under three order days, and then no reorder points);
  late_days = days since its last order - rhythm_days, when positive: a reorder overdue by one
  whole rhythm is worth REORDER_WEIGHT points, by two or more, twice that;
- open_pipeline: the sum of amount * probability of its open opportunities (not closed);
- revenue_365: the net revenue of its orders (not cancelled) in the 365 days ending today;
- MONEY_STEP: 1,000 in the major unit of the account's currency (amounts in another currency
  are left out). Money counts on a log scale so that one big customer does not drown every
  other reason: 1,000 gives 0.30, 10,000 gives 1.04, 100,000 gives 2.00;
- days_since_visit: days since its last visit done; an account never visited counts as
  VISIT_CAP_DAYS (a stop there is as worth it as at one not seen for half a year).

Equal scores: the nearer first. Days are UTC days, like the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from babel.numbers import get_currency_precision
from geopy.distance import geodesic
from sqlmodel import Session

from app.brief import buying_rhythm_days
from app.models import Account, Opportunity, Order, Visit, table_of, utc_day
from app.money import round_div

__all__ = [
    "MONEY_STEP",
    "OPPORTUNITY_WEIGHT",
    "REORDER_CAP",
    "REORDER_WEIGHT",
    "REVENUE_WEIGHT",
    "VISIT_CAP_DAYS",
    "VISIT_WEIGHT",
    "NearbyAccount",
    "Reason",
    "VisitWorth",
    "WorthFacts",
    "nearby_accounts",
    "visit_worth",
]

#: Points for a reorder overdue by one whole buying rhythm.
REORDER_WEIGHT = 3.0
#: Rhythms of lateness beyond which a reorder is worth no more.
REORDER_CAP = 2.0
#: Points per tenfold of the open pipeline (in MONEY_STEPs, plus one).
OPPORTUNITY_WEIGHT = 2.0
#: Points per tenfold of the last 365 days' revenue (in MONEY_STEPs, plus one).
REVENUE_WEIGHT = 1.0
#: The money unit of the log scale, in major units of the account's currency.
MONEY_STEP = 1_000
#: Points for an account not visited for VISIT_CAP_DAYS or more (or never).
VISIT_WEIGHT = 2.0
VISIT_CAP_DAYS = 180
#: The revenue counted: this many days, today included.
REVENUE_DAYS = 365

#: The fewest kilometres in a degree of latitude (at the equator, on the WGS84 ellipsoid), and
#: in a degree of longitude at latitude 0 before the cosine: a box drawn with these holds the
#: whole circle, never less.
KM_PER_DEGREE_LATITUDE = 110.5
KM_PER_DEGREE_LONGITUDE = 111.3


@dataclass(frozen=True, slots=True)
class WorthFacts:
    """What the score of one account is made of. Amounts in minor units of `currency`."""

    today: date
    currency: str
    order_days: list[date]  # distinct days with an order (not cancelled), up to today, ascending
    revenue_365_amount: int = 0
    open_opportunities: int = 0
    open_pipeline_amount: int = 0  # sum of amount * probability of the open opportunities
    last_visit_on: date | None = None  # the day of the last visit done


@dataclass(frozen=True, slots=True)
class Reason:
    """One part of a score: `kind` is reorder, opportunity, revenue or last_visit."""

    kind: str
    points: float
    facts: dict[str, Any]


@dataclass(frozen=True, slots=True)
class VisitWorth:
    score: float
    reasons: list[Reason]  # the parts that add points, the biggest first


@dataclass(frozen=True, slots=True)
class NearbyAccount:
    account_id: str
    name: str
    town: str | None
    lat: float
    lon: float
    distance_km: float
    score: float
    reasons: list[Reason]


def _money_points(amount: int, currency: str) -> float:
    major = amount / 10 ** get_currency_precision(currency)
    return math.log10(1 + max(major, 0) / MONEY_STEP)


def visit_worth(facts: WorthFacts) -> VisitWorth:
    """The score of a stop at one account, as the module docstring writes it, with its parts."""
    reasons: list[Reason] = []
    rhythm = buying_rhythm_days(facts.order_days)
    if rhythm is not None and rhythm > 0:
        last = facts.order_days[-1]
        since = (facts.today - last).days
        late = since - rhythm
        if late > 0:
            reasons.append(
                Reason(
                    "reorder",
                    REORDER_WEIGHT * min(late / rhythm, REORDER_CAP),
                    {"every_days": rhythm, "days_since": since, "late_days": late, "last_order_on": last},
                )
            )
    if facts.open_pipeline_amount > 0:
        reasons.append(
            Reason(
                "opportunity",
                OPPORTUNITY_WEIGHT * _money_points(facts.open_pipeline_amount, facts.currency),
                {
                    "amount": facts.open_pipeline_amount,
                    "currency": facts.currency,
                    "opportunities": facts.open_opportunities,
                },
            )
        )
    if facts.revenue_365_amount > 0:
        reasons.append(
            Reason(
                "revenue",
                REVENUE_WEIGHT * _money_points(facts.revenue_365_amount, facts.currency),
                {"amount": facts.revenue_365_amount, "currency": facts.currency, "days": REVENUE_DAYS},
            )
        )
    days_since_visit = None if facts.last_visit_on is None else (facts.today - facts.last_visit_on).days
    counted = VISIT_CAP_DAYS if days_since_visit is None else min(max(days_since_visit, 0), VISIT_CAP_DAYS)
    if counted > 0:
        reasons.append(
            Reason(
                "last_visit",
                VISIT_WEIGHT * counted / VISIT_CAP_DAYS,
                {"last_visit_on": facts.last_visit_on, "days_since": days_since_visit},
            )
        )
    reasons.sort(key=lambda r: -r.points)
    return VisitWorth(sum(r.points for r in reasons), reasons)


def _box(account: Any, lat: float, lon: float, radius_km: float) -> Any:
    """A WHERE clause on the account's position: a latitude/longitude box holding the circle."""
    d_lat = radius_km / KM_PER_DEGREE_LATITUDE
    south, north = lat - d_lat, lat + d_lat
    clause = sa.and_(account.billing_lat.between(south, north), account.billing_lon.is_not(None))
    widest = max(abs(south), abs(north))
    if widest >= 89.0:
        return clause  # near a pole every longitude may be within reach
    d_lon = radius_km / (KM_PER_DEGREE_LONGITUDE * math.cos(math.radians(widest)))
    if d_lon >= 180:
        return clause
    west, east = lon - d_lon, lon + d_lon
    if west < -180:  # the box crosses the antimeridian
        return sa.and_(clause, sa.or_(account.billing_lon >= west + 360, account.billing_lon <= east))
    if east > 180:
        return sa.and_(clause, sa.or_(account.billing_lon >= west, account.billing_lon <= east - 360))
    return sa.and_(clause, account.billing_lon.between(west, east))


def nearby_accounts(
    *, session: Session, lat: float, lon: float, radius_km: float, today: date, limit: int = 20
) -> list[NearbyAccount]:
    """The replica's accounts whose address (the billing address's position, as the agenda and
    the check-in use it) is within `radius_km` (geodesic) of (lat, lon), the most worth a stop
    first (score: module docstring), at most `limit`."""
    if not radius_km > 0:
        raise ValueError("radius_km: the distance must be above zero")
    if limit < 1:
        raise ValueError("limit: at least one account")
    conn = session.connection()
    a, o, op, v = (table_of(m).c for m in (Account, Order, Opportunity, Visit))
    in_box = _box(a, lat, lon, radius_km)
    within: dict[str, tuple[str, str | None, float, float, str, float]] = {}
    for account_id, name, town, account_lat, account_lon, currency in conn.execute(
        sa.select(a.id, a.name, a.billing_city, a.billing_lat, a.billing_lon, a.currency).where(in_box)
    ):
        distance = float(geodesic((lat, lon), (account_lat, account_lon)).km)
        if distance <= radius_km:
            within[account_id] = (name, town, account_lat, account_lon, currency, distance)
    if not within:
        return []

    # One grouped query per kind of fact for the accounts of the box (no query per account); the
    # box as a subquery, so that each account's records are read on their (account_id, id) index.
    box_ids = sa.select(a.id).where(in_box)
    currency_of = {account_id: facts[4] for account_id, facts in within.items()}
    order_days: dict[str, list[date]] = {}
    revenue: dict[str, int] = {}
    first_revenue_day = (today - timedelta(days=REVENUE_DAYS - 1)).isoformat()
    order_day = utc_day(o.ordered_at)
    for account_id, day, currency, net in conn.execute(
        sa.select(o.account_id, order_day, o.currency, sa.func.sum(o.net_amount))
        .where(o.account_id.in_(box_ids), o.status != "cancelled", order_day <= today.isoformat())
        .group_by(o.account_id, order_day, o.currency)
        .order_by(o.account_id, order_day)
    ):
        if account_id not in within:
            continue
        days = order_days.setdefault(account_id, [])
        if not days or days[-1].isoformat() != day:
            days.append(date.fromisoformat(day))
        if day >= first_revenue_day and currency == currency_of[account_id]:
            revenue[account_id] = revenue.get(account_id, 0) + int(net)
    pipeline: dict[str, tuple[int, int]] = {}
    for account_id, currency, count, weighted in conn.execute(
        sa.select(op.account_id, op.currency, sa.func.count(), sa.func.sum(op.amount * op.probability_pct))
        .where(op.account_id.in_(box_ids), op.closed_at.is_(None), op.stage.not_in(("won", "lost")))
        .group_by(op.account_id, op.currency)
    ):
        if account_id in within and currency == currency_of[account_id]:
            pipeline[account_id] = (int(count), round_div(int(weighted), 100))
    visit_day = utc_day(v.starts_at)
    last_visit: dict[str, date] = {
        account_id: date.fromisoformat(day)
        for account_id, day in conn.execute(
            sa.select(v.account_id, sa.func.max(visit_day))
            .where(v.account_id.in_(box_ids), v.status == "done", visit_day <= today.isoformat())
            .group_by(v.account_id)
        )
    }

    ranked = []
    for account_id, (name, town, account_lat, account_lon, currency, distance) in within.items():
        opportunities, open_pipeline = pipeline.get(account_id, (0, 0))
        worth = visit_worth(
            WorthFacts(
                today=today,
                currency=currency,
                order_days=order_days.get(account_id, []),
                revenue_365_amount=revenue.get(account_id, 0),
                open_opportunities=opportunities,
                open_pipeline_amount=open_pipeline,
                last_visit_on=last_visit.get(account_id),
            )
        )
        ranked.append(
            NearbyAccount(account_id, name, town, account_lat, account_lon, distance, worth.score, worth.reasons)
        )
    ranked.sort(key=lambda n: (-n.score, n.distance_km, n.name))
    return ranked[:limit]
