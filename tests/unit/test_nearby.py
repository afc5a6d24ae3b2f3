"""What a stop at an account is worth, term by term, on facts worked out by hand (no database)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from app.nearby import Reason, WorthFacts, visit_worth

TODAY = date(2026, 11, 18)


def days_ago(*days: int) -> list[date]:
    return sorted(TODAY - timedelta(days=d) for d in days)


def test_an_account_never_visited_with_nothing_else_is_worth_the_visit_weight_only() -> None:
    worth = visit_worth(WorthFacts(today=TODAY, currency="EUR", order_days=[]))
    assert worth.score == 2.0
    assert worth.reasons == [Reason("last_visit", 2.0, {"last_visit_on": None, "days_since": None})]


def test_a_reorder_counts_three_points_per_rhythm_late_up_to_two_rhythms() -> None:
    visited = TODAY  # visited today: the visit term adds nothing
    # Every 30 days, the last order 75 days ago: 45 days late, 1.5 rhythms, 4.5 points.
    worth = visit_worth(
        WorthFacts(today=TODAY, currency="EUR", order_days=days_ago(135, 105, 75), last_visit_on=visited)
    )
    assert worth.score == pytest.approx(4.5)
    assert worth.reasons == [
        Reason(
            "reorder",
            pytest.approx(4.5),
            {"every_days": 30, "days_since": 75, "late_days": 45, "last_order_on": TODAY - timedelta(days=75)},
        )
    ]
    # 90 days late is 3 rhythms: capped at 2, 6 points; 200 days late, still 6.
    assert visit_worth(WorthFacts(TODAY, "EUR", days_ago(180, 150, 120), last_visit_on=visited)).score == pytest.approx(
        6.0
    )
    assert visit_worth(WorthFacts(TODAY, "EUR", days_ago(290, 260, 230), last_visit_on=visited)).score == pytest.approx(
        6.0
    )
    # The median gap (60, 20, 10 -> 20): 30 days since, 10 late, half a rhythm, 1.5 points.
    assert visit_worth(
        WorthFacts(TODAY, "EUR", days_ago(120, 60, 40, 30), last_visit_on=visited)
    ).score == pytest.approx(1.5)


@pytest.mark.parametrize(
    "order_days",
    [
        days_ago(60, 30),  # two order days: no rhythm yet
        days_ago(70, 40, 10),  # ordered 10 days ago, every 30 days: not due
        days_ago(90, 60, 30),  # exactly one rhythm since the last order: due, not late
    ],
)
def test_no_reorder_points_before_the_rhythm_is_overdue(order_days: list[date]) -> None:
    assert visit_worth(WorthFacts(TODAY, "EUR", order_days, last_visit_on=TODAY)).reasons == []


def test_money_counts_on_a_log_scale_of_thousands_of_the_currency() -> None:
    # 9,000.00 € of weighted pipeline: log10(1 + 9) = 1, times 2. 99,000.00 € of revenue:
    # log10(1 + 99) = 2, times 1.
    worth = visit_worth(
        WorthFacts(
            TODAY,
            "EUR",
            [],
            revenue_365_amount=9_900_000,
            open_opportunities=2,
            open_pipeline_amount=900_000,
            last_visit_on=TODAY,
        )
    )
    assert worth.score == pytest.approx(4.0)
    assert [(r.kind, r.points) for r in worth.reasons] == [
        ("opportunity", pytest.approx(2.0)),
        ("revenue", pytest.approx(2.0)),
    ]
    assert worth.reasons[0].facts == {"amount": 900_000, "currency": "EUR", "opportunities": 2}
    assert worth.reasons[1].facts == {"amount": 9_900_000, "currency": "EUR", "days": 365}
    # The yen has no minor unit: 9,000 ¥ is 9 thousands of it.
    yen = visit_worth(WorthFacts(TODAY, "JPY", [], open_pipeline_amount=9_000, last_visit_on=TODAY))
    assert yen.score == pytest.approx(2.0)


def test_days_since_the_last_visit_add_up_to_two_points_at_half_a_year() -> None:
    def score(days: int) -> float:
        return visit_worth(WorthFacts(TODAY, "EUR", [], last_visit_on=TODAY - timedelta(days=days))).score

    assert score(0) == 0.0
    assert score(45) == pytest.approx(0.5)
    assert score(180) == pytest.approx(2.0)
    assert score(400) == pytest.approx(2.0)


def test_the_score_is_the_sum_of_its_parts_biggest_first() -> None:
    facts = WorthFacts(
        today=TODAY,
        currency="EUR",
        order_days=days_ago(100, 80, 60, 40),  # every 20 days, 40 days since: 20 late, 3 points
        revenue_365_amount=4_000_000,  # 40,000.00 €: log10(41)
        open_opportunities=1,
        open_pipeline_amount=150_000,  # 1,500.00 €: 2 * log10(2.5)
        last_visit_on=TODAY - timedelta(days=90),  # 1 point
    )
    worth = visit_worth(facts)
    expected = {"reorder": 3.0, "revenue": math.log10(41), "opportunity": 2 * math.log10(2.5), "last_visit": 1.0}
    assert [r.kind for r in worth.reasons] == ["reorder", "revenue", "last_visit", "opportunity"]
    assert {r.kind: r.points for r in worth.reasons} == pytest.approx(expected)
    assert worth.score == pytest.approx(sum(expected.values()))
