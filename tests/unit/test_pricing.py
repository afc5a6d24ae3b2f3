"""The pricing engine, table-driven: each case's totals were worked out by hand (the working is
in the comments), with the rounding rule of `app.pricing` (half away from zero, per line, then
the document's discount per VAT rate, then VAT per rate)."""

from __future__ import annotations

import pytest

from app.pricing import Catalogue, LineIn, PricingError, ProductFacts, price

OVEN = ProductFacts("oven", "Four mixte 10 niveaux", "FM-10", "EUR", 123_450_00, "standard")
FLOUR = ProductFacts("flour", "Farine T55 25 kg", "FA-55", "EUR", 19_99, "reduced")
SERVICE = ProductFacts("service", "Entretien annuel", "SE-01", "EUR", 89_90, "intermediate")
PAPER = ProductFacts("paper", "Presse quotidienne", "PQ-01", "EUR", 1_50, "super_reduced")
DOLLARS = ProductFacts("usd", "Imported mixer", "IM-01", "USD", 500_00, "standard")
GONE = ProductFacts("gone", "Old oven", "FM-06", "EUR", 9_000_00, "standard", active=False)
ODD = ProductFacts("odd", "Gift card", "GC-01", "EUR", 50_00, "exempt")

CATALOGUE = Catalogue(
    products={p.id: p for p in (OVEN, FLOUR, SERVICE, PAPER, DOLLARS, GONE, ODD)},
    # The French rates: 20, 10, 5.5 and 2.1 %.
    tax_rates_bp={"standard": 2000, "intermediate": 1000, "reduced": 550, "super_reduced": 210},
    prices={
        "customer": {"oven": [(1, 110_000_00)]},  # this customer's own price
        "segment": {"flour": [(1, 19_00), (10, 17_50)], "oven": [(1, 115_000_00)]},  # key accounts, a break at 10
        "list": {"service": [(5, 85_00)]},  # the general tariff: a break at 5, the list price below it
    },
)

CASES = [
    # id, lines, document discount, (unit prices, sources), (net, tax, gross), discount amount
    pytest.param(
        # 3 x 1.50 = 4.50; VAT 2.1 %: 0.0945 -> 0.09
        [LineIn("paper", 3)],
        0,
        [(1_50, "list")],
        (4_50, 9, 4_59),
        0,
        id="list-price-super-reduced-rate",
    ),
    pytest.param(
        # the customer's 110,000.00 beats the segment's 115,000.00 and the list's 123,450.00;
        # 2 x 110,000.00 = 220,000.00; VAT 20 %: 44,000.00
        [LineIn("oven", 2)],
        0,
        [(110_000_00, "customer")],
        (220_000_00, 44_000_00, 264_000_00),
        0,
        id="customer-price",
    ),
    pytest.param(
        # below the break: 9 x 19.00 = 171.00; VAT 5.5 %: 9.405 -> 9.41
        [LineIn("flour", 9)],
        0,
        [(19_00, "segment")],
        (171_00, 9_41, 180_41),
        0,
        id="segment-price-below-break",
    ),
    pytest.param(
        # the break reached: 10 x 17.50 = 175.00; VAT 5.5 %: 9.625 -> 9.63 (half away from zero)
        [LineIn("flour", 10)],
        0,
        [(17_50, "segment")],
        (175_00, 9_63, 184_63),
        0,
        id="segment-break-half-up",
    ),
    pytest.param(
        # the general tariff's break not reached: the list price; 4 x 89.90 = 359.60; VAT 10 %: 35.96
        [LineIn("service", 4)],
        0,
        [(89_90, "list")],
        (359_60, 35_96, 395_56),
        0,
        id="list-break-not-reached",
    ),
    pytest.param(
        # reached: 5 x 85.00 = 425.00; VAT 10 %: 42.50
        [LineIn("service", 5)],
        0,
        [(85_00, "list")],
        (425_00, 42_50, 467_50),
        0,
        id="list-break-reached",
    ),
    pytest.param(
        # 3 x 19.00 = 57.00, less 12.5 %: 49.875 -> 49.88; VAT 5.5 %: 2.7434 -> 2.74
        [LineIn("flour", 3, 1250)],
        0,
        [(19_00, "segment")],
        (49_88, 2_74, 52_62),
        0,
        id="line-discount-rounding",
    ),
    pytest.param(
        # a line given away: 0, no VAT
        [LineIn("oven", 1, 10_000)],
        0,
        [(110_000_00, "customer")],
        (0, 0, 0),
        0,
        id="line-discount-100",
    ),
    pytest.param(
        # document discount 7.5 % per rate:
        #   20 %:  110,000.00, discount 8,250.00 -> 101,750.00, VAT 20,350.00
        #   5.5 %: 175.00, discount 13.125 -> 13.13 -> 161.87, VAT 8.90285 -> 8.90
        #   2.1 %: 4.50, discount 0.3375 -> 0.34 -> 4.16, VAT 0.08736 -> 0.09
        #   net 101,916.03, tax 20,358.99, gross 122,275.02; discount 8,263.47
        [LineIn("oven", 1), LineIn("flour", 10), LineIn("paper", 3)],
        750,
        [(110_000_00, "customer"), (17_50, "segment"), (1_50, "list")],
        (101_916_03, 20_358_99, 122_275_02),
        8_263_47,
        id="document-discount-by-rate",
    ),
    pytest.param(
        # two lines at one rate share one base: (9 x 19.00 = 171.00) + (2 x 19.00 less 5 % = 36.10)
        # = 207.10; discount 2 %: 4.142 -> 4.14 -> 202.96; VAT 5.5 %: 11.1628 -> 11.16
        [LineIn("flour", 9), LineIn("flour", 2, 500)],
        200,
        [(19_00, "segment"), (19_00, "segment")],
        (202_96, 11_16, 214_12),
        4_14,
        id="one-base-per-rate",
    ),
    pytest.param(
        # four rates in one quote, no document discount: 20 % 110,000.00 -> 22,000.00;
        # 10 % 85.00 x 5 = 425.00 -> 42.50; 5.5 % 19.00 -> 1.045 -> 1.05; 2.1 % 1.50 -> 0.0315 -> 0.03
        [LineIn("oven", 1), LineIn("service", 5), LineIn("flour", 1), LineIn("paper", 1)],
        0,
        [(110_000_00, "customer"), (85_00, "list"), (19_00, "segment"), (1_50, "list")],
        (110_445_50, 22_043_58, 132_489_08),
        0,
        id="four-french-rates",
    ),
]


@pytest.mark.parametrize(("lines", "discount_bp", "units", "totals", "discount_amount"), CASES)
def test_a_quote_comes_to_the_totals_worked_out_by_hand(
    lines: list[LineIn],
    discount_bp: int,
    units: list[tuple[int, str]],
    totals: tuple[int, int, int],
    discount_amount: int,
) -> None:
    document = price(CATALOGUE, lines, currency="EUR", discount_bp=discount_bp)
    assert [(line.unit_price_amount, line.price_source) for line in document.lines] == units
    assert (document.net_amount, document.tax_amount, document.gross_amount) == totals
    assert document.discount_amount == discount_amount
    assert document.lines_net_amount - document.discount_amount == document.net_amount
    assert sum(v.tax_amount for v in document.vat) == document.tax_amount
    assert [v.rate_bp for v in document.vat] == sorted({line.tax_rate_bp for line in document.lines}, reverse=True)


@pytest.mark.parametrize(
    ("lines", "currency", "discount_bp", "reason"),
    [
        ([LineIn("paper", 1), LineIn("nothing", 1)], "EUR", 0, "line 2: product nothing is no longer sold"),
        ([LineIn("gone", 1)], "EUR", 0, "line 1: product gone is no longer sold"),
        ([LineIn("usd", 1)], "EUR", 0, "line 1: Imported mixer is priced in USD, not EUR"),
        ([LineIn("odd", 1)], "EUR", 0, "line 1: no VAT rate for the category 'exempt'"),
        ([LineIn("paper", 0)], "EUR", 0, "line 1: the quantity must be at least 1"),
        ([LineIn("paper", 1, 10_001)], "EUR", 0, "line 1: the discount must be between 0 and 100 %"),
        ([LineIn("paper", 1)], "EUR", 12_000, "discount_bp: 12000 is not between 0 and 10000"),
    ],
)
def test_what_cannot_be_priced_is_named(lines: list[LineIn], currency: str, discount_bp: int, reason: str) -> None:
    with pytest.raises(PricingError) as raised:
        price(CATALOGUE, lines, currency=currency, discount_bp=discount_bp)
    assert str(raised.value) == reason
