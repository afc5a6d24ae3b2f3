"""Every figure on a small book worked out by hand, ties and empty periods included."""

from __future__ import annotations

from datetime import date

import pytest

from app.figures import (
    OrderFact,
    acquisition_rate,
    active_accounts,
    ces,
    churn_rate,
    close_rate,
    first_contact_resolution,
    nps,
    rfm,
    rfm_segment,
    sales_cycle_days,
)

A, B = date(2026, 1, 1), date(2026, 7, 1)
# The book, by hand:
#   alpha   ordered 2025-03-01 (100) and 2026-03-01 (300): active at A (2025-03-01 is within
#           the 365 days before A) and at B.
#   beta    ordered 2025-06-15 (50) only: active at A, not at B (2025-06-15 < B - 365 = 2025-07-01).
#   gamma   ordered 2025-12-31 (200): active at A (the day before A) and at B.
#   delta   first order 2026-01-01 (80), on A itself: not active at A (only days before count),
#           active at B, but not acquired in (A, B] since its first order is on A.
#   epsilon first order 2026-06-30 (500) and 2026-07-01 (70): active at B (06-30); the order on
#           B itself does not count for B; acquired in (A, B].
#   zeta    ordered 2024-12-31 (999): 366 days before A, so never active here.
BOOK = [
    OrderFact("alpha", date(2025, 3, 1), 100),
    OrderFact("alpha", date(2026, 3, 1), 300),
    OrderFact("beta", date(2025, 6, 15), 50),
    OrderFact("gamma", date(2025, 12, 31), 200),
    OrderFact("delta", date(2026, 1, 1), 80),
    OrderFact("epsilon", date(2026, 6, 30), 500),
    OrderFact("epsilon", date(2026, 7, 1), 70),
    OrderFact("zeta", date(2024, 12, 31), 999),
]


def test_activity_is_an_order_in_the_365_days_before_the_day() -> None:
    assert active_accounts(BOOK, A) == {"alpha", "beta", "gamma"}
    assert active_accounts(BOOK, B) == {"alpha", "gamma", "delta", "epsilon"}
    assert active_accounts(BOOK, date(2024, 12, 31)) == set()  # zeta's order is on that very day


def test_churn_and_acquisition_rates() -> None:
    assert churn_rate(BOOK, A, B) == pytest.approx(1 / 3)  # beta lost, of alpha, beta, gamma
    assert acquisition_rate(BOOK, A, B) == pytest.approx(1 / 3)  # epsilon, over the same three
    empty_start = date(2020, 1, 1)
    assert churn_rate(BOOK, empty_start, B) is None and acquisition_rate(BOOK, empty_start, B) is None
    assert churn_rate([], A, B) is None


def test_rfm_values_scores_with_ties_and_segments() -> None:
    day = date(2026, 7, 2)  # window: 2025-07-02 .. 2026-07-01
    # In the window: alpha 2026-03-01 (300); gamma 2025-12-31 (200); delta 2026-01-01 (80);
    # epsilon 2026-06-30 (500) and 2026-07-01 (70). beta and zeta are outside.
    scores = rfm(BOOK, day)
    assert set(scores) == {"alpha", "gamma", "delta", "epsilon"}
    # recency: alpha 123, gamma 183, delta 182, epsilon 1 (fewer is better; n = 4)
    #   epsilon: 4 values >= 1 -> ceil(20/4) = 5; alpha: 3 -> ceil(15/4) = 4;
    #   delta: 2 -> ceil(10/4) = 3; gamma: 1 -> ceil(5/4) = 2
    # frequency: epsilon 2, the others 1 (tie): others: 3 values <= 1 -> ceil(15/4) = 4; epsilon 5
    # monetary: delta 80 -> 1 <= -> ceil(5/4) = 2; gamma 200 -> 3; alpha 300 -> 4; epsilon 570 -> 5
    expected = {
        "alpha": (123, 1, 300, 4, 4, 4),
        "gamma": (183, 1, 200, 2, 4, 3),
        "delta": (182, 1, 80, 3, 4, 2),
        "epsilon": (1, 2, 570, 5, 5, 5),
    }
    for account, (recency, frequency, monetary, r, f, m) in expected.items():
        got = scores[account]
        assert (got.recency_days, got.frequency, got.monetary, got.r, got.f, got.m) == (
            recency,
            frequency,
            monetary,
            r,
            f,
            m,
        ), account
    assert scores["epsilon"].segment == "champions" and scores["alpha"].segment == "champions"
    assert scores["gamma"].segment == "at_risk" and scores["delta"].segment == "loyal"
    assert rfm(BOOK, date(2020, 1, 1)) == {}  # nobody ordered in that window


def test_one_account_alone_is_in_the_top_quintile() -> None:
    [(account, alone)] = rfm([OrderFact("solo", date(2026, 1, 10), 10)], date(2026, 2, 1)).items()
    assert account == "solo" and (alone.r, alone.f, alone.m) == (5, 5, 5)


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 5, 5, "champions"),
        (3, 4, 1, "loyal"),
        (5, 1, 1, "new"),
        (1, 5, 5, "at_risk"),
        (2, 2, 2, "hibernating"),
        (3, 3, 3, "potential"),
    ],
)
def test_segment_names(r: int, f: int, m: int, segment: str) -> None:
    assert rfm_segment(r, f, m) == segment


def test_close_rate_and_cycle_length_count_what_closed_in_the_period() -> None:
    outcomes = [
        ("won", date(2026, 2, 1)),
        ("won", date(2026, 3, 1)),
        ("lost", date(2026, 4, 1)),
        ("won", date(2025, 12, 31)),  # before the period
        ("qualification", date(2026, 5, 1)),  # not closed: not counted
    ]
    assert close_rate(outcomes, A, B) == pytest.approx(2 / 3)
    assert close_rate(outcomes, date(2027, 1, 1), date(2027, 12, 31)) is None
    won = [
        (date(2026, 1, 1), date(2026, 2, 1)),
        (date(2026, 2, 1), date(2026, 3, 1)),
        (date(2025, 1, 1), date(2025, 12, 31)),
    ]
    assert sales_cycle_days(won, A, B) == 29.5  # 31 and 28 days: the median of two is their mean
    assert sales_cycle_days([], A, B) is None


def test_nps_ces_and_first_contact_resolution() -> None:
    # 3 promoters (9, 10, 10), 2 passives (7, 8), 3 detractors (0, 5, 6): (3 - 3) / 8 = 0
    assert nps([9, 10, 10, 7, 8, 0, 5, 6]) == 0
    # 1 promoter, 0 detractors of 8: 12.5 -> 13 (half away from zero); 1 detractor of 8: -13
    assert nps([10, 7, 7, 7, 7, 7, 7, 7]) == 13 and nps([6, 7, 7, 7, 7, 7, 7, 7]) == -13
    assert nps([]) is None
    assert ces([2, 3, 4]) == 3.0 and ces([]) is None
    assert first_contact_resolution([True, False, True, True]) == 0.75 and first_contact_resolution([]) is None


def test_a_monthly_target_is_spread_by_the_share_of_each_months_days() -> None:
    from app.figures import period_target

    assert period_target(3_000, date(2026, 1, 1), date(2026, 1, 31)) == 3_000  # one whole month
    assert period_target(3_000, date(2026, 1, 1), date(2026, 12, 31)) == 36_000  # a year
    assert period_target(3_100, date(2026, 1, 1), date(2026, 1, 15)) == 1_500  # 15 / 31 of 3 100
    # 15 days of January (of 31) and 14 of February 2026 (of 28): 1 354.84... + 1 400 = 2 754.84...
    assert period_target(2_800, date(2026, 1, 17), date(2026, 2, 14)) == 2_755
    # February 2028 has 29 days: one day is 1 / 29 of the month, 100 / 29 = 3.45 -> 3.
    assert period_target(100, date(2028, 2, 29), date(2028, 2, 29)) == 3
    # Half a unit rounds away from zero: 15 days of April's 30 of a target of 1.
    assert period_target(1, date(2026, 4, 1), date(2026, 4, 15)) == 1
    assert period_target(1, date(2026, 4, 1), date(2026, 4, 14)) == 0
    assert period_target(None, date(2026, 1, 1), date(2026, 1, 31)) is None
    assert period_target(100, date(2026, 2, 1), date(2026, 1, 31)) is None  # ends before it starts
