"""The pricing engine, one for the app and the server: the same catalogue and the same lines give
the same totals to the cent on both sides.

Amounts are integers in minor units of the document's currency; rates and discounts are in
basis points (2000 is 20 %).

1. The unit price of a line, as of the pricing day and in the document's currency, comes from
   the first of these sources that has one for the product at the line's quantity:
   - ``customer``: the customer's own prices (items of a price list made for the account, or
     items naming the account);
   - ``segment``: the price lists of the customer's segment (``PriceList.segment``);
   - ``list``: the general price lists (neither segment nor account), else the product's list
     price.
   Inside a source, the items whose minimum quantity the line reaches, of lists valid that day
   (``valid_from`` <= day <= ``valid_to``, either end open), count: the lowest unit price wins.
   Quantity breaks are items with a higher ``min_quantity``.
2. A line's net: quantity x unit price x (1 - line discount), rounded half away from zero to
   the minor unit.
3. The document's discount applies to the nets of each VAT rate: the base of a rate is the sum
   of its lines' nets; its discount, base x discount rounded (as above); the discounted base,
   base - discount.
4. The VAT of a rate: discounted base x rate, rounded (as above). VAT is worked out per rate on
   the discounted base, as a French invoice shows it, not summed from lines.
5. Totals: net = sum of the discounted bases, tax = sum of the VAT of each rate, gross = net + tax.
   A line also carries its own VAT before the document's discount (for display only).

`price` is plain Python over a `Catalogue`; `load_catalogue` reads one from a database session
(the replica on the device, the server's own database on the server).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.models import Account, PriceList, PriceListItem, Product, TaxRate, table_of
from app.money import BASIS_POINTS, round_div

__all__ = [
    "SOURCES",
    "Catalogue",
    "LineIn",
    "PricedDocument",
    "PricedLine",
    "PricingError",
    "ProductFacts",
    "VatLine",
    "load_catalogue",
    "price",
    "vat_by_rate",
]

#: Where a unit price comes from, the first that has one wins.
SOURCES = ("customer", "segment", "list")


class PricingError(ValueError):
    """A line cannot be priced: a product unknown, withdrawn, in another currency, or with no
    VAT rate for its category."""


@dataclass(frozen=True, slots=True)
class ProductFacts:
    id: str
    name: str
    sku: str
    currency: str
    list_price_amount: int
    tax_category: str
    active: bool = True


#: A price list's item: (minimum quantity, unit price).
Break = tuple[int, int]


@dataclass
class Catalogue:
    """What pricing one customer's document needs: its products, the VAT rate of each tax
    category, and the items of each price source, per product."""

    products: dict[str, ProductFacts]
    tax_rates_bp: dict[str, int]
    prices: dict[str, dict[str, list[Break]]] = field(default_factory=dict)  # source -> product -> breaks

    def unit_price(self, product: ProductFacts, quantity: int) -> tuple[int, str]:
        """The unit price for `quantity` and its source (module docstring, rule 1)."""
        for source in SOURCES:
            reached = [unit for minimum, unit in self.prices.get(source, {}).get(product.id, []) if minimum <= quantity]
            if reached:
                return min(reached), source
        return product.list_price_amount, "list"


@dataclass(frozen=True, slots=True)
class LineIn:
    product_id: str
    quantity: int
    discount_bp: int = 0


@dataclass(frozen=True, slots=True)
class PricedLine:
    product_id: str
    description: str
    quantity: int
    unit_price_amount: int
    price_source: str
    discount_bp: int
    tax_rate_bp: int
    net_amount: int  # after the line's discount, before the document's
    tax_amount: int  # the line's VAT before the document's discount, for display


@dataclass(frozen=True, slots=True)
class VatLine:
    rate_bp: int
    base_amount: int  # the rate's nets, after the document's discount
    tax_amount: int


@dataclass(frozen=True, slots=True)
class PricedDocument:
    currency: str
    discount_bp: int
    lines: list[PricedLine]
    lines_net_amount: int  # before the document's discount
    discount_amount: int
    vat: list[VatLine]  # by rate, highest first
    net_amount: int
    tax_amount: int

    @property
    def gross_amount(self) -> int:
        return self.net_amount + self.tax_amount


def _discounted(amount: int, discount_bp: int) -> int:
    return round_div(amount * (BASIS_POINTS - discount_bp), BASIS_POINTS)


def price(catalogue: Catalogue, lines: Sequence[LineIn], *, currency: str, discount_bp: int = 0) -> PricedDocument:
    """Price `lines` with `catalogue` in `currency`, less the document's `discount_bp` (rules in
    the module docstring). PricingError names the first line that cannot be priced."""
    if not 0 <= discount_bp <= BASIS_POINTS:
        raise PricingError(f"discount_bp: {discount_bp} is not between 0 and {BASIS_POINTS}")
    priced: list[PricedLine] = []
    for number, line in enumerate(lines, 1):
        product = catalogue.products.get(line.product_id)
        if product is None or not product.active:
            raise PricingError(f"line {number}: product {line.product_id} is no longer sold")
        if product.currency != currency:
            raise PricingError(f"line {number}: {product.name} is priced in {product.currency}, not {currency}")
        rate = catalogue.tax_rates_bp.get(product.tax_category)
        if rate is None:
            raise PricingError(f"line {number}: no VAT rate for the category {product.tax_category!r}")
        if line.quantity < 1:
            raise PricingError(f"line {number}: the quantity must be at least 1")
        if not 0 <= line.discount_bp <= BASIS_POINTS:
            raise PricingError(f"line {number}: the discount must be between 0 and 100 %")
        unit, source = catalogue.unit_price(product, line.quantity)
        net = _discounted(line.quantity * unit, line.discount_bp)
        priced.append(
            PricedLine(
                product_id=product.id,
                description=product.name,
                quantity=line.quantity,
                unit_price_amount=unit,
                price_source=source,
                discount_bp=line.discount_bp,
                tax_rate_bp=rate,
                net_amount=net,
                tax_amount=round_div(net * rate, BASIS_POINTS),
            )
        )
    bases: dict[int, int] = {}
    for done in priced:
        bases[done.tax_rate_bp] = bases.get(done.tax_rate_bp, 0) + done.net_amount
    vat, discount_amount = vat_by_rate(bases, discount_bp)
    return PricedDocument(
        currency=currency,
        discount_bp=discount_bp,
        lines=priced,
        lines_net_amount=sum(bases.values()),
        discount_amount=discount_amount,
        vat=vat,
        net_amount=sum(v.base_amount for v in vat),
        tax_amount=sum(v.tax_amount for v in vat),
    )


def vat_by_rate(bases: dict[int, int], discount_bp: int) -> tuple[list[VatLine], int]:
    """Rules 3 and 4: each rate's base (the sum of its lines' nets) less the document's discount,
    and its VAT, highest rate first; with the discount taken off in all."""
    vat = []
    discount_amount = 0
    for rate, base in sorted(bases.items(), reverse=True):
        off = round_div(base * discount_bp, BASIS_POINTS)
        discount_amount += off
        vat.append(VatLine(rate, base - off, round_div((base - off) * rate, BASIS_POINTS)))
    return vat, discount_amount


def load_catalogue(
    session: Session, *, account_id: str, product_ids: Sequence[str], currency: str, day: date
) -> Catalogue:
    """The catalogue for pricing `product_ids` for one account on `day`, from `session`."""
    ids = sorted(set(product_ids))
    products = {
        p.id: ProductFacts(p.id, p.name, p.sku, p.currency, p.list_price_amount, p.tax_category, p.active)
        for p in session.exec(select(Product).where(col(Product.id).in_(ids)))
    }
    rates = {r.category: r.rate_bp for r in session.exec(select(TaxRate))}
    account = session.get(Account, account_id)
    segment = account.segment if account is not None else None
    pl, item = table_of(PriceList).c, table_of(PriceListItem).c
    rows = session.connection().execute(
        sa.select(
            pl.account_id, pl.segment, item.account_id, item.product_id, item.min_quantity, item.unit_price_amount
        )
        .join_from(table_of(PriceListItem), table_of(PriceList), pl.id == item.price_list_id)
        .where(
            pl.currency == currency,
            sa.or_(pl.valid_from.is_(None), pl.valid_from <= day),
            sa.or_(pl.valid_to.is_(None), pl.valid_to >= day),
            item.product_id.in_(ids),
        )
    )
    prices: dict[str, dict[str, list[Break]]] = {source: {} for source in SOURCES}
    for list_account, list_segment, item_account, product_id, minimum, unit in rows:
        if item_account is not None or list_account is not None:
            if account_id not in (item_account, list_account):
                continue  # another customer's own price
            source = "customer"
        elif list_segment is not None:
            if list_segment != segment:
                continue
            source = "segment"
        else:
            source = "list"
        prices[source].setdefault(product_id, []).append((minimum, unit))
    return Catalogue(products, rates, prices)
