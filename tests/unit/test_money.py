"""Money in integer minor units: rounding, line totals, and display."""

from __future__ import annotations

import pytest

from app.money import format_money, line_totals, round_div


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(5, 2, 3), (4, 2, 2), (7, 3, 2), (-5, 2, -3), (-7, 3, -2), (14_999, 10_000, 1), (15_000, 10_000, 2), (0, 7, 0)],
)
def test_round_div_rounds_half_away_from_zero(numerator: int, denominator: int, expected: int) -> None:
    assert round_div(numerator, denominator) == expected


def test_line_totals_apply_the_discount_then_the_vat_on_the_rounded_net() -> None:
    # 3 x 12.99 = 38.97, less 7.5 % = 36.04725 -> 36.05; VAT 5.5 % of 36.05 = 1.98275 -> 1.98
    totals = line_totals(quantity=3, unit_price_amount=1299, discount_bp=750, tax_rate_bp=550)
    assert (totals.net_amount, totals.tax_amount, totals.gross_amount) == (3605, 198, 3803)


def test_line_totals_with_no_discount_and_standard_vat() -> None:
    totals = line_totals(quantity=2, unit_price_amount=45_900, tax_rate_bp=2000)
    assert (totals.net_amount, totals.tax_amount) == (91_800, 18_360)


def test_amounts_are_shown_in_the_reps_language() -> None:
    assert format_money(544_465, "EUR", "fr") == "5\u202f444,65\xa0€"
    assert format_money(544_465, "EUR", "en") == "€5,444.65"
    assert format_money(1200, "JPY", "fr") == "1\u202f200\xa0JPY"
