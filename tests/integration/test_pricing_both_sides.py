"""The same quotes priced on a rep's device (its replica) and on the server (its own database,
SQLite or PostgreSQL) come to the same totals to the cent: customer prices, segment price lists
with a quantity break, the general tariff, line and quote discounts, every French VAT rate."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.ids import new_id
from app.models import Account, PriceList, PriceListItem, Product, Quote, QuoteLine, TaxRate
from app.pricing import load_catalogue
from app.quotes import create_quote
from server.db import ServerSession
from server.models import User
from tests.integration.test_sync_push import _device, _server


def _accounts(api: TestClient, username: str) -> tuple[str, str, str]:
    """One of the rep's key accounts, one with a price list of its own (made here), one plain."""
    with ServerSession(_server(api)) as session:
        owner = session.exec(select(User.id).where(User.username == username)).one()
        mine = session.exec(select(Account).where(Account.owner_id == owner).order_by(col(Account.id))).all()
        key = next(a for a in mine if a.segment == "key_account")
        own, plain = [a for a in mine if a.segment != "key_account"][:2]
        products = session.exec(select(Product).where(Product.active).order_by(col(Product.sku))).all()
        own_list = PriceList(id=new_id(), name=f"Contrat {own.name}", account_id=own.id, valid_from=date(2026, 1, 1))
        session.add(own_list)
        session.flush()
        for product in products[:4]:  # 15 % off the list, and 20 % from 6
            for minimum, share in ((1, 85), (6, 80)):
                session.add(
                    PriceListItem(
                        id=new_id(),
                        price_list_id=own_list.id,
                        account_id=own.id,
                        product_id=product.id,
                        min_quantity=minimum,
                        unit_price_amount=product.list_price_amount * share // 100,
                    )
                )
        ids = key.id, own.id, plain.id
        session.commit()
    return ids


def test_quotes_priced_on_the_device_and_on_the_server_agree_to_the_cent(api: TestClient, tmp_path: Path) -> None:
    key, own, plain = _accounts(api, "alice")
    device = _device(api, tmp_path, "alice")  # signs in and pulls the catalogue, own list included
    rng = random.Random(7)
    with Session(device.replica) as session:
        products = session.exec(select(Product).where(Product.active).order_by(col(Product.sku))).all()
        rates = {r.category: r.rate_bp for r in session.exec(select(TaxRate))}
        assert sorted(set(rates.values())) == [210, 550, 1000, 2000]
        made: dict[str, tuple[int, int, int]] = {}
        sources: set[str] = set()
        for number in range(60):
            account_id = (key, own, plain)[number % 3]
            lines = [
                {
                    "product_id": product.id,
                    "quantity": rng.choice((1, 2, 3, 6, 9, 10, 12, 25)),
                    "discount_bp": rng.choice((0, 0, 250, 1250, 3333)),
                }
                for product in rng.sample(products, rng.randint(1, 6))
            ]
            discount = rng.choice((0, 0, 500, 750, 1000))
            quote = create_quote(session=session, account_id=account_id, discount_bp=discount, lines=lines)
            assert isinstance(quote, Quote)
            made[quote.id] = (quote.net_amount, quote.tax_amount, quote.gross_amount)
            catalogue = load_catalogue(
                session,
                account_id=account_id,
                product_ids=[line["product_id"] for line in lines],
                currency="EUR",
                day=quote.issued_on or date.today(),
            )
            sources |= {catalogue.unit_price(catalogue.products[x["product_id"]], x["quantity"])[1] for x in lines}
    assert sources == {"customer", "segment", "list"}  # every source was priced
    device.sync()
    with ServerSession(_server(api)) as session:
        stored = {
            q.id: (q.net_amount, q.tax_amount, q.gross_amount)
            for q in session.exec(select(Quote).where(col(Quote.id).in_(list(made))))
        }
        server_lines = session.exec(select(QuoteLine).where(col(QuoteLine.quote_id).in_(list(made)))).all()
    assert stored == made
    with Session(device.replica) as session:
        device_lines = session.exec(select(QuoteLine).where(col(QuoteLine.quote_id).in_(list(made)))).all()
    assert sorted((x.id, x.unit_price_amount, x.net_amount, x.tax_amount) for x in server_lines) == sorted(
        (x.id, x.unit_price_amount, x.net_amount, x.tax_amount) for x in device_lines
    )
    assert len({x[2] for x in made.values()}) > 50  # sixty different quotes, not one sixty times


def test_only_the_lists_valid_that_day_in_the_currency_and_for_this_customer_count(api: TestClient) -> None:
    key, own, plain = _accounts(api, "alice")
    day = date(2026, 11, 30)
    with ServerSession(_server(api)) as session:
        # A product outside `own`'s contract (its first four products).
        product = session.exec(select(Product).where(Product.active).order_by(col(Product.sku))).all()[4]
        cheap = product.list_price_amount // 2

        def price_list(**fields: object) -> None:
            made = PriceList(id=new_id(), name="test", **fields)  # type: ignore[arg-type]
            session.add(made)
            session.flush()
            session.add(
                PriceListItem(
                    id=new_id(),
                    price_list_id=made.id,
                    account_id=fields.get("account_id"),  # type: ignore[arg-type]
                    product_id=product.id,
                    unit_price_amount=cheap,
                )
            )

        price_list(valid_to=date(2026, 11, 29))  # the general tariff that ended yesterday
        price_list(valid_from=date(2026, 12, 1))  # the one that starts tomorrow
        price_list(currency="USD")  # another currency
        price_list(account_id=own)  # `own`'s own price, no one else's
        price_list(segment="franchise")  # a segment none of these customers is in
        session.commit()

        def unit(account_id: str, on: date) -> tuple[int, str]:
            catalogue = load_catalogue(session, account_id=account_id, product_ids=[product.id], currency="EUR", day=on)
            return catalogue.unit_price(catalogue.products[product.id], 1)

        assert unit(plain, day) == (product.list_price_amount, "list")
        assert unit(plain, date(2026, 11, 29)) == (cheap, "list")  # the old tariff still held that day
        assert unit(plain, date(2026, 12, 1)) == (cheap, "list")  # the new one from that day
        assert unit(own, day) == (cheap, "customer")
        assert unit(key, day) == (product.list_price_amount * 92 // 100, "segment")  # the key accounts' list
