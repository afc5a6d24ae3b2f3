"""The catalogue on the device: what is on sale, by category, found by name or reference."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from app.card import browse_catalogue, product_categories
from app.models import Product
from sync.engine import SyncEngine

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_the_catalogue_lists_what_is_on_sale_by_category_and_finds_a_reference(alice: SyncEngine) -> None:
    with Session(alice.replica) as session:
        everything = session.exec(select(Product)).all()
        withdrawn = everything[0]
        withdrawn.active = False  # as a pull would bring it
        session.add(withdrawn)
        session.commit()
        on_sale = [p for p in everything if p.active]
        categories = product_categories(session=session)
        assert categories == sorted({p.category for p in on_sale})
        listed = browse_catalogue(session=session)
        assert [p.id for p in listed] == [p.id for p in sorted(on_sale, key=lambda p: (p.category, p.name))]
        one = categories[0]
        assert {p.id for p in browse_catalogue(session=session, category=one)} == {
            p.id for p in on_sale if p.category == one
        }
        target = session.exec(select(Product).where(Product.active).order_by(col(Product.sku).desc())).first()
        assert target is not None
        assert [p.id for p in browse_catalogue(session=session, query=target.sku)] == [target.id]
        assert browse_catalogue(session=session, query=withdrawn.sku) == []  # not on sale any more
        assert browse_catalogue(session=session, query=target.sku, category="Nothing of the kind") == []
