"""The quote form reads lines and discounts as the rep types them and shows the engine's totals;
a drawn signature becomes an SVG image, and a tap is no signature."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.i18n import Translator
from app.pricing import Catalogue, LineIn, ProductFacts, price
from app.services import ProductLine
from app.signature import signature_svg
from views.quotes import QuoteForm

OVEN = ProductFacts("oven", "Four mixte", "FM-10", "EUR", 1_000_00, "standard")
FLOUR = ProductFacts("flour", "Farine T55", "FA-55", "EUR", 20_00, "reduced")
CATALOGUE = Catalogue({p.id: p for p in (OVEN, FLOUR)}, {"standard": 2000, "reduced": 550})


def _line(p: ProductFacts) -> ProductLine:
    return ProductLine(p.id, p.name, p.sku, "Cuisine", p.list_price_amount, p.currency, True)


def _form() -> QuoteForm:
    return QuoteForm(
        Translator("fr"),
        search=lambda text: [_line(p) for p in (OVEN, FLOUR) if text.lower() in p.name.lower()],
        price=lambda lines, discount: price(CATALOGUE, lines, currency="EUR", discount_bp=discount),
    )


def test_the_totals_are_the_engines_for_what_was_typed() -> None:
    form = _form()
    form.add(_line(OVEN))
    form.add(_line(FLOUR))
    form.rows[0].quantity.value = "2"
    form.rows[1].discount.value = "12,5"
    form.discount.value = "5"
    form.refresh()
    assert form.read() == ([LineIn("oven", 2, 0), LineIn("flour", 1, 1250)], 500)
    expected = price(CATALOGUE, form.read()[0], currency="EUR", discount_bp=500)
    shown = (form.totals.value or "").replace("\u202f", " ").replace("\xa0", " ")
    assert (
        shown
        == f"Total HT {expected.net_amount / 100:,.2f} € · TVA {expected.tax_amount / 100:,.2f} € · TTC {expected.gross_amount / 100:,.2f} €".replace(
            ",", " "
        ).replace(".", ",")
    )
    assert form.rows[1].quantity.label == "Quantité, ligne 2"
    form.remove(form.rows[0])
    assert form.rows[0].quantity.label == "Quantité, ligne 1" and form.read()[0] == [LineIn("flour", 1, 1250)]


@pytest.mark.parametrize(
    ("quantity", "discount", "quote_discount", "message"),
    [
        ("0", "0", "0", "Ligne 1 : une quantité entière, 1 ou plus."),
        ("1,5", "0", "0", "Ligne 1 : une quantité entière, 1 ou plus."),
        ("1", "120", "0", "Ligne 1 : une remise entre 0 et 100 %."),
        ("1", "0", "abc", "La remise sur le devis : entre 0 et 100 %."),
    ],
)
def test_what_cannot_be_read_says_what_to_fix(quantity: str, discount: str, quote_discount: str, message: str) -> None:
    form = _form()
    form.add(_line(OVEN))
    form.rows[0].quantity.value, form.rows[0].discount.value, form.discount.value = quantity, discount, quote_discount
    form.refresh()
    assert form.error.value == message


def test_a_signature_is_an_svg_image_of_its_strokes_and_a_tap_is_none() -> None:
    strokes = [
        [(10.0, 50.0), (20.0, 40.0), (30.0, 55.5), (40.0, 45.0)],
        [(60.0, 50.0), (70.0, 40.0), (80.0, 50.0), (90.0, 44.0)],
    ]
    svg = signature_svg(strokes, 480, 180)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox") == "0 0 480 180"
    paths = root.findall(".//{http://www.w3.org/2000/svg}path")
    assert [p.get("d") for p in paths] == [
        "M10.0 50.0 L20.0 40.0 L30.0 55.5 L40.0 45.0",
        "M60.0 50.0 L70.0 40.0 L80.0 50.0 L90.0 44.0",
    ]
    with pytest.raises(ValueError, match="sign in the box first"):
        signature_svg([[(10.0, 10.0), (11.0, 11.0)]], 480, 180)
