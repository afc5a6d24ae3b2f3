"""Nearby accounts on alice's replica of the demo company: only those within the radius, their
distances, the ranking the score's formula gives (each account's facts read again here, one
by one), and none without a position; in four queries whatever the number of accounts."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from geopy.distance import geodesic
from sqlmodel import Session, col, select

import app.nearby
from app.models import Account, Opportunity, Order, Visit
from app.nearby import (
    MONEY_STEP,
    OPPORTUNITY_WEIGHT,
    REORDER_CAP,
    REORDER_WEIGHT,
    REVENUE_WEIGHT,
    VISIT_CAP_DAYS,
    VISIT_WEIGHT,
    NearbyAccount,
    nearby_accounts,
)
from sync.engine import SyncEngine
from tests.conftest import DEMO_DAY

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

#: Lyon, place Bellecour: alice's book has customers in Lyon, Villeurbanne and Vienne around it.
LYON = (45.7578, 4.8320)
RADIUS_KM = 30.0


def _nearby(device: SyncEngine, radius_km: float = RADIUS_KM, limit: int = 1000) -> list[NearbyAccount]:
    with Session(device.replica) as session:
        return nearby_accounts(
            session=session, lat=LYON[0], lon=LYON[1], radius_km=radius_km, today=DEMO_DAY, limit=limit
        )


def _haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = (tuple(map(math.radians, p)) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _score_read_again(session: Session, account: Account) -> float:
    """The module docstring's formula, on facts read here with plain queries for this account."""
    orders = session.exec(select(Order).where(Order.account_id == account.id, Order.status != "cancelled")).all()
    days = sorted({_day(o.ordered_at) for o in orders if _day(o.ordered_at) <= DEMO_DAY})
    score = 0.0
    recent = days[-13:]
    if len(recent) >= 3:
        rhythm = statistics.median((b - a).days for a, b in zip(recent, recent[1:], strict=False))
        late = (DEMO_DAY - days[-1]).days - rhythm
        score += REORDER_WEIGHT * min(max(late, 0) / rhythm, REORDER_CAP)
    revenue = sum(
        o.net_amount
        for o in orders
        if o.currency == account.currency and DEMO_DAY - timedelta(days=364) <= _day(o.ordered_at) <= DEMO_DAY
    )
    score += REVENUE_WEIGHT * math.log10(1 + revenue / 100 / MONEY_STEP)
    pipeline = sum(
        op.amount * op.probability_pct / 100
        for op in session.exec(select(Opportunity).where(Opportunity.account_id == account.id)).all()
        if op.closed_at is None and op.stage not in ("won", "lost") and op.currency == account.currency
    )
    score += OPPORTUNITY_WEIGHT * math.log10(1 + pipeline / 100 / MONEY_STEP)
    visits = session.exec(select(Visit).where(Visit.account_id == account.id, Visit.status == "done")).all()
    visited = [_day(v.starts_at) for v in visits if _day(v.starts_at) <= DEMO_DAY]
    since = (DEMO_DAY - max(visited)).days if visited else VISIT_CAP_DAYS
    return score + VISIT_WEIGHT * min(since, VISIT_CAP_DAYS) / VISIT_CAP_DAYS


@pytest.fixture
def counted(alice: SyncEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """The statements run on the replica and the distances measured."""
    counts = {"statements": 0, "distances": 0}

    def statement(*_args: object) -> None:
        counts["statements"] += 1

    def measured(*points: Any) -> Any:
        counts["distances"] += 1
        return geodesic(*points)

    monkeypatch.setattr(app.nearby, "geodesic", measured)
    sa.event.listen(alice.replica, "before_cursor_execute", statement)
    yield counts
    sa.event.remove(alice.replica, "before_cursor_execute", statement)


def test_only_accounts_within_the_radius_are_listed_with_their_distance(alice: SyncEngine) -> None:
    nearby = _nearby(alice)
    with Session(alice.replica) as session:
        accounts = session.exec(select(Account)).all()
    distances = {a.id: geodesic(LYON, (a.billing_lat, a.billing_lon)).km for a in accounts}
    assert {n.account_id for n in nearby} == {i for i, km in distances.items() if km <= RADIUS_KM}
    assert 10 <= len(nearby) < len(accounts) / 4
    for n in nearby:
        assert n.distance_km == pytest.approx(distances[n.account_id], abs=1e-9)
        # The ellipsoid's kilometres are within 0.5 % of a sphere's.
        assert n.distance_km == pytest.approx(_haversine_km(LYON, (n.lat, n.lon)), rel=0.005)
    # Villeurbanne is next door; Vienne, some 27 km down the Rhône.
    assert max(n.distance_km for n in nearby if n.town == "Villeurbanne") < 8
    assert 20 < min(n.distance_km for n in nearby if n.town == "Vienne") <= RADIUS_KM
    # A radius just short of the farthest one leaves that one out, and only it.
    farthest = max(nearby, key=lambda n: n.distance_km)
    closer = _nearby(alice, radius_km=farthest.distance_km - 0.001)
    assert {n.account_id for n in closer} == {n.account_id for n in nearby} - {farthest.account_id}


def test_the_ranking_follows_the_formula_on_facts_read_again(alice: SyncEngine) -> None:
    nearby = _nearby(alice)
    with Session(alice.replica) as session:
        expected = {n.account_id: _score_read_again(session, session.get_one(Account, n.account_id)) for n in nearby}
    for n in nearby:
        assert n.score == pytest.approx(expected[n.account_id], abs=1e-9), n.name
        assert n.score == pytest.approx(sum(r.points for r in n.reasons))
    assert [n.account_id for n in nearby] == [
        n.account_id for n in sorted(nearby, key=lambda n: (-expected[n.account_id], n.distance_km, n.name))
    ]
    # Every term plays a part around Lyon, and the first account owes its place to an overdue reorder.
    assert {r.kind for n in nearby for r in n.reasons} == {"reorder", "opportunity", "revenue", "last_visit"}
    first = nearby[0]
    assert first.reasons[0].kind == "reorder" and first.reasons[0].facts["late_days"] > 0
    # The limit keeps the head of the same ranking.
    assert [n.account_id for n in _nearby(alice, limit=3)] == [n.account_id for n in nearby[:3]]


def test_an_account_without_a_position_is_never_listed(alice: SyncEngine) -> None:
    nearby = _nearby(alice)
    no_position, no_longitude = nearby[0].account_id, nearby[1].account_id
    with Session(alice.replica) as session:
        session.connection().execute(
            sa.update(Account)
            .where(col(Account.id) == no_position)
            .values(billing_lat=None, billing_lon=None, shipping_lat=LYON[0], shipping_lon=LYON[1])
        )
        session.connection().execute(sa.update(Account).where(col(Account.id) == no_longitude).values(billing_lon=None))
        session.commit()
    listed = {n.account_id for n in _nearby(alice)}
    assert listed == {n.account_id for n in nearby} - {no_position, no_longitude}
    assert _nearby(alice, radius_km=20_000)  # the whole Earth, still without them
    assert no_position not in {n.account_id for n in _nearby(alice, radius_km=20_000)}


def test_a_book_is_read_in_four_queries_and_only_the_box_is_measured(
    alice: SyncEngine, counted: dict[str, int]
) -> None:
    nearby = _nearby(alice)
    assert counted["statements"] == 4  # the accounts in the box, then orders, opportunities, visits
    with Session(alice.replica) as session:
        book = len(session.exec(select(Account.id)).all())
    assert len(nearby) <= counted["distances"] < book / 4


def test_a_radius_must_be_a_distance(alice: SyncEngine) -> None:
    with pytest.raises(ValueError, match="radius_km"):
        _nearby(alice, radius_km=0)
