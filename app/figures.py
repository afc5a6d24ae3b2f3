"""The figures a sales manager lives by, as pure functions over plain facts (no database here):
the device computes them over the rep's book, the server over a team's.

Definitions (the README repeats them):

- An account is *active* at day D when it has an order in the 365 days before D: ordered on a
  day in [D - 365, D - 1].
- *Churn rate* over [A, B]: the share of the accounts active at A that are not active at B.
  *Acquisition rate*: the accounts active at B whose first order falls in (A, B], over the
  accounts active at A. Both are None when no account is active at A.
- *RFM* as of D, over the accounts with at least one order in the 365 days before D: recency =
  days from the last such order to D; frequency = those orders; monetary = their net revenue.
  Each gets a score from 1 to 5 by quintile among those accounts: for frequency and monetary,
  ceil(5 x (accounts with a value <= this one) / n); for recency, where fewer days is better,
  ceil(5 x (accounts with a value >= this one) / n). Equal values share a score.
- *Close rate*: opportunities won / (won + lost), among those closed in the period.
  *Sales-cycle length*: the median number of days from creation to won, among those won in it.
  Both ends come from the opportunity's stage history where it has one (its creation's row, its
  latest move to won), else from its own dates (created_at, closed_at).
  *Account cycle*: the median number of days from an account's first move to lead to its first
  move to buyer or client after it, among the accounts that became buyer or client in the period
  (from the lifecycle history only: accounts without it are left out).
- *Targets* are monthly: the target of a period is the sum, over the months it touches, of the
  monthly target times the share of that month's days inside the period, rounded half away
  from zero. Revenue and orders are compared to it as a ratio.
- *NPS*: % of promoters (9-10) minus % of detractors (0-6), rounded half away from zero.
  *CES*: the mean score. *First-contact resolution*: tickets resolved on first contact over
  tickets resolved, in the period.
"""

from __future__ import annotations

import bisect
import calendar
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

from app.money import round_div

__all__ = [
    "WINDOW",
    "OrderFact",
    "Rfm",
    "account_cycle_days",
    "acquisition_between",
    "acquisition_rate",
    "churn_between",
    "first_orders",
    "monthly_totals",
    "ces",
    "active_accounts",
    "churn_rate",
    "close_rate",
    "first_contact_resolution",
    "nps",
    "period_target",
    "rfm",
    "rfm_segment",
    "sales_cycle_days",
    "won_cycles",
]

WINDOW = timedelta(days=365)


class OrderFact(NamedTuple):
    """One order as the figures see it (a tuple: a book has hundreds of thousands of them)."""

    account_id: str
    ordered_on: date
    net_amount: int


def active_accounts(orders: Iterable[OrderFact], day: date) -> set[str]:
    start = day - WINDOW
    return {o.account_id for o in orders if start <= o.ordered_on < day}


def churn_rate(orders: Iterable[OrderFact], start: date, end: date) -> float | None:
    facts = list(orders)
    return churn_between(active_accounts(facts, start), active_accounts(facts, end))


def churn_between(active_at_start: set[str], active_at_end: set[str]) -> float | None:
    """Churn from the two active sets (the same definition, for a caller that has them)."""
    if not active_at_start:
        return None
    return len(active_at_start - active_at_end) / len(active_at_start)


def first_orders(orders: Iterable[OrderFact]) -> dict[str, date]:
    """Each account's first order day."""
    first: dict[str, date] = {}
    for o in orders:
        if o.account_id not in first or o.ordered_on < first[o.account_id]:
            first[o.account_id] = o.ordered_on
    return first


def acquisition_rate(orders: Iterable[OrderFact], start: date, end: date) -> float | None:
    facts = list(orders)
    return acquisition_between(
        active_accounts(facts, start), active_accounts(facts, end), first_orders(facts), start, end
    )


def acquisition_between(
    active_at_start: set[str], active_at_end: set[str], first: dict[str, date], start: date, end: date
) -> float | None:
    """Acquisition from the two active sets and the first order days."""
    if not active_at_start:
        return None
    # Acquired in (A, B]: a first order on day A itself counts for the period before.
    acquired = {a for a in active_at_end if start < first[a] <= end}
    return len(acquired) / len(active_at_start)


def monthly_totals(orders: Iterable[OrderFact], start: date, end: date) -> list[dict[str, Any]]:
    """Net revenue and orders of each calendar month touching [start, end], within it."""
    months: dict[tuple[int, int], list[int]] = {}
    first = date(start.year, start.month, 1)
    while first <= end:
        months[(first.year, first.month)] = [0, 0]
        first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    for o in orders:
        if start <= o.ordered_on <= end:
            month = months[(o.ordered_on.year, o.ordered_on.month)]
            month[0] += o.net_amount
            month[1] += 1
    return [{"month": f"{y:04d}-{m:02d}", "net_amount": net, "orders": n} for (y, m), (net, n) in months.items()]


@dataclass(frozen=True, slots=True)
class Rfm:
    recency_days: int
    frequency: int
    monetary: int
    r: int
    f: int
    m: int

    @property
    def segment(self) -> str:
        return rfm_segment(self.r, self.f, self.m)


def _scores(values: dict[str, int], *, lower_is_better: bool) -> dict[str, int]:
    n = len(values)
    ordered = sorted(values.values())
    out = {}
    for key, value in values.items():
        if lower_is_better:
            count = n - _count_below(ordered, value)  # values >= this one
        else:
            count = _count_below(ordered, value + 1)  # values <= this one (integers)
        out[key] = math.ceil(5 * count / n)
    return out


def _count_below(ordered: list[int], bound: int) -> int:
    """How many values are < bound."""
    return bisect.bisect_left(ordered, bound)


def rfm(orders: Iterable[OrderFact], day: date) -> dict[str, Rfm]:
    start = day - WINDOW
    last: dict[str, date] = {}
    count: dict[str, int] = defaultdict(int)
    revenue: dict[str, int] = defaultdict(int)
    for o in orders:
        if start <= o.ordered_on < day:
            count[o.account_id] += 1
            revenue[o.account_id] += o.net_amount
            if o.account_id not in last or o.ordered_on > last[o.account_id]:
                last[o.account_id] = o.ordered_on
    if not count:
        return {}
    recency = {a: (day - d).days for a, d in last.items()}
    r = _scores(recency, lower_is_better=True)
    f = _scores(dict(count), lower_is_better=False)
    m = _scores(dict(revenue), lower_is_better=False)
    return {a: Rfm(recency[a], count[a], revenue[a], r[a], f[a], m[a]) for a in count}


def rfm_segment(r: int, f: int, m: int) -> str:
    """A name for a score triple, checked in this order."""
    if r >= 4 and f >= 4 and m >= 4:
        return "champions"
    if r >= 3 and f >= 4:
        return "loyal"
    if r >= 4 and f <= 2:
        return "new"
    if r <= 2 and f >= 4:
        return "at_risk"
    if r <= 2 and f <= 2:
        return "hibernating"
    return "potential"


def close_rate(outcomes: Iterable[tuple[str, date]], start: date, end: date) -> float | None:
    """`outcomes`: (stage, closed on) of opportunities; won / (won + lost) closed in [start, end]."""
    won = lost = 0
    for stage, closed_on in outcomes:
        if start <= closed_on <= end:
            won += stage == "won"
            lost += stage == "lost"
    return None if won + lost == 0 else won / (won + lost)


def sales_cycle_days(won: Iterable[tuple[date, date]], start: date, end: date) -> float | None:
    """`won`: (created on, won on) of won opportunities; the median days, among those won in [start, end]."""
    days = [(closed - created).days for created, closed in won if start <= closed <= end]
    return statistics.median(days) if days else None


def won_cycles(
    opportunities: Iterable[tuple[str, str, date, date | None]], history: dict[str, tuple[date | None, date | None]]
) -> list[tuple[date, date]]:
    """(created on, won on) of each won opportunity, for `sales_cycle_days`.

    `opportunities`: (id, stage, created on, closed on); `history`: by opportunity id, the day of
    its creation's row in the stage history and the day of its latest move to won (either None
    when the history has none). The history's dates win; the opportunity's own fill in."""
    won = []
    for opportunity_id, stage, created_on, closed_on in opportunities:
        if stage != "won":
            continue
        history_created, history_won = history.get(opportunity_id, (None, None))
        won_on = history_won or closed_on
        if won_on is not None:
            won.append((history_created or created_on, won_on))
    return won


def account_cycle_days(moves: Iterable[tuple[str, str, date]], start: date, end: date) -> float | None:
    """`moves`: (account id, stage moved to, day) of lifecycle moves; the median days from an
    account's first move to lead to its first move to buyer or client after it, among the
    accounts whose move to buyer or client falls in [start, end]."""
    to_lead: dict[str, date] = {}
    to_buyer: dict[str, list[date]] = defaultdict(list)
    for account_id, stage, day in moves:
        if stage == "lead":
            to_lead[account_id] = min(day, to_lead.get(account_id, day))
        elif stage in ("buyer", "client"):
            to_buyer[account_id].append(day)
    days = []
    for account_id, lead_on in to_lead.items():
        became = min((d for d in to_buyer.get(account_id, ()) if d >= lead_on), default=None)
        if became is not None and start <= became <= end:
            days.append((became - lead_on).days)
    return statistics.median(days) if days else None


def nps(scores: Iterable[int]) -> int | None:
    values = list(scores)
    if not values:
        return None
    promoters = sum(1 for s in values if s >= 9)
    detractors = sum(1 for s in values if s <= 6)
    return round_div(100 * (promoters - detractors), len(values))


def ces(scores: Iterable[int]) -> float | None:
    values = list(scores)
    return statistics.fmean(values) if values else None


def first_contact_resolution(resolved_on_first_contact: Iterable[bool]) -> float | None:
    values = list(resolved_on_first_contact)
    return None if not values else sum(values) / len(values)


def period_target(monthly: int | None, start: date, end: date) -> int | None:
    """A monthly target spread over [start, end] by the share of each month's days in it."""
    if monthly is None or end < start:
        return None
    parts: list[tuple[int, int]] = []  # (days in the period, days in the month), month by month
    day = start
    while day <= end:
        month_days = calendar.monthrange(day.year, day.month)[1]
        month_end = date(day.year, day.month, month_days)
        inside = (min(end, month_end) - day).days + 1
        parts.append((inside, month_days))
        day = month_end + timedelta(days=1)
    # Exact in integers: sum(monthly * inside / month_days) over a common denominator.
    denominator = math.prod({m for _i, m in parts})
    numerator = sum(monthly * inside * (denominator // month_days) for inside, month_days in parts)
    return round_div(numerator, denominator)
