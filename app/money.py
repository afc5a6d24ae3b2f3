"""Money as integer minor units: line totals, VAT, and display in the rep's language.

Rounding rule: every computed amount is rounded half away from zero to the minor unit, once
per line (net, then tax on that net); document totals are sums of rounded line amounts.
"""

from __future__ import annotations

from dataclasses import dataclass

from babel.numbers import format_currency, get_currency_precision

__all__ = ["LineTotals", "format_money", "line_totals", "round_div"]

BASIS_POINTS = 10_000


def round_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in integers only."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient


@dataclass(frozen=True, slots=True)
class LineTotals:
    net_amount: int
    tax_amount: int

    @property
    def gross_amount(self) -> int:
        return self.net_amount + self.tax_amount


def line_totals(*, quantity: int, unit_price_amount: int, discount_bp: int = 0, tax_rate_bp: int = 0) -> LineTotals:
    net = round_div(quantity * unit_price_amount * (BASIS_POINTS - discount_bp), BASIS_POINTS)
    return LineTotals(net, round_div(net * tax_rate_bp, BASIS_POINTS))


def format_money(amount: int, currency: str, locale: str) -> str:
    """`123456, "EUR", "fr"` -> `1 234,56 €`."""
    value = amount / 10 ** get_currency_precision(currency)
    return format_currency(value, currency, locale=locale)
