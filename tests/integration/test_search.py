"""Search as you type from the replica (SQLite FTS5): any case, any accents, prefixes, kept current
by every write, whether a pull, an edit or a purge."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.card import search_accounts, search_products
from app.edits import edit_account
from app.models import Account, Contact, Product
from app.replica import open_replica
from sync.engine import SyncEngine
from tests.integration.test_sync_pull import _reassign

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _alice(api: TestClient, tmp_path: Path) -> SyncEngine:
    device = SyncEngine(replica=open_replica(tmp_path / "alice"), http=api)
    device.sign_in(username="alice", password="demo")
    device.sync()
    return device


def _names(device: SyncEngine, query: str) -> set[str]:
    with Session(device.replica) as session:
        return {a.name for a in search_accounts(session=session, query=query, limit=500)}


def test_towns_are_found_whatever_the_case_and_accents_typed(api: TestClient, tmp_path: Path) -> None:
    device = _alice(api, tmp_path)
    with Session(device.replica) as session:
        in_town = {a.name for a in session.exec(select(Account).where(Account.billing_city == "Saint-Étienne"))}
        chambery = {a.name for a in session.exec(select(Account).where(Account.billing_city == "Chambéry"))}
    assert in_town and chambery
    for typed in ("saint-étienne", "SAINT ETIENNE", "sain etie", "Étienne"):
        assert in_town <= _names(device, typed), typed
    assert chambery <= _names(device, "chamb") and chambery <= _names(device, "CHAMBE")
    assert _names(device, "chamb").isdisjoint(in_town)
    assert in_town <= _names(device, "420")  # a postcode prefix


def test_a_contacts_name_finds_their_account(api: TestClient, tmp_path: Path) -> None:
    device = _alice(api, tmp_path)
    with Session(device.replica) as session:
        contact = session.exec(select(Contact).order_by(col(Contact.last_name))).first()
        assert contact is not None
        account = session.get(Account, contact.account_id)
        assert account is not None
    assert account.name in _names(device, contact.last_name[:4].upper())


def test_the_index_follows_edits_and_purges(api: TestClient, tmp_path: Path) -> None:
    device = _alice(api, tmp_path)
    with Session(device.replica) as session:
        account = session.exec(select(Account).order_by(col(Account.name))).first()
        assert account is not None
        account_id, old_name = account.id, account.name
        assert account_id in {a.id for a in search_accounts(session=session, query=old_name)}
        edit_account(session=session, account_id=account_id, changes={"name": "Zythologie Œnologie"})
        # The old name no longer leads to it; the new one does.
        assert account_id not in {a.id for a in search_accounts(session=session, query=old_name)}
    assert "Zythologie Œnologie" in _names(device, "ZYTHO")
    assert "Zythologie Œnologie" in _names(device, "zythologie")
    _reassign(api, account_id, "bruno")
    device.sync()
    assert _names(device, "zythologie") == set()


def test_products_by_name_reference_or_category(api: TestClient, tmp_path: Path) -> None:
    device = _alice(api, tmp_path)
    with Session(device.replica) as session:
        product = session.exec(select(Product).order_by(col(Product.sku))).first()
        assert product is not None
        assert product in search_products(session=session, query=product.sku[:5])
        first_word = product.name.split()[0]
        assert product.id in {p.id for p in search_products(session=session, query=first_word[:3].lower())}


def test_a_replica_made_before_the_index_gets_it_filled_at_open(api: TestClient, tmp_path: Path) -> None:
    device = _alice(api, tmp_path)
    expected = _names(device, "grenoble")
    assert expected
    with device.replica.begin() as conn:
        conn.exec_driver_sql("DROP TABLE search_index")
    device.replica.dispose()
    reopened = open_replica(tmp_path / "alice")
    with Session(reopened) as session:
        assert {a.name for a in search_accounts(session=session, query="grenoble", limit=500)} == expected
