"""A quote's life across the device and the server: a discount above the server's threshold
waits for a manager's approval (given or refused through the API, seen by the rep after sync);
sent, accepted with a signature, ordered; an order whose prices changed in between is refused
with a readable reason while the rest of the outbox goes through."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.edits import InvalidEdit, create_record, pending_changes
from app.models import Account, Order, PriceListItem, Product, Quote, Reminder
from app.quotes import create_quote, order_from_quote, set_quote_status
from server.db import ServerSession
from sync.engine import SyncEngine
from tests.conftest import sign_in
from tests.integration.conftest import push_updates
from tests.integration.test_sync_push import _device, _server

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
SIGNED = datetime(2026, 11, 30, 10, 15, tzinfo=UTC)


def _lines(device: SyncEngine, count: int = 2) -> tuple[str, list[dict[str, object]]]:
    with Session(device.replica) as session:
        account = session.exec(select(Account.id).order_by(col(Account.name))).first()
        products = session.exec(select(Product.id).where(Product.active).order_by(col(Product.sku)).limit(count)).all()
    assert account is not None
    return account, [{"product_id": p, "quantity": 2} for p in products]


def _quote(device: SyncEngine, discount_bp: int) -> Quote:
    account, lines = _lines(device)
    with Session(device.replica) as session:
        return create_quote(session=session, account_id=account, lines=lines, discount_bp=discount_bp)


def test_a_big_discount_waits_for_approval_then_is_signed_and_ordered(api: TestClient, tmp_path: Path) -> None:
    alice = _device(api, tmp_path, "alice")
    quote = _quote(alice, 2000)  # 20 %, above the server's 15 %
    assert quote.approval == "needed"  # known offline: the device has the server's threshold
    with Session(alice.replica) as session, pytest.raises(InvalidEdit, match="awaits a manager's approval"):
        set_quote_status(session=session, quote_id=quote.id, status="sent")
    small = _quote(alice, 1000)
    assert small.approval is None
    alice.sync()
    manager = sign_in(api, "manon")
    waiting = api.get("/api/v1/quotes", params={"approval": "needed"}, headers=manager).json()
    assert [q["id"] for q in waiting] == [quote.id]
    assert waiting[0]["legal_number"] and waiting[0]["created_by"] == "alice"
    # A rep cannot approve, another rep does not even see it.
    decision = {"decision": "approve", "note": "Client stratégique"}
    rep = {"Authorization": f"Bearer {alice._access_token}"}
    assert api.post(f"/api/v1/quotes/{quote.id}/approval", json=decision, headers=rep).status_code == 403
    assert api.get(f"/api/v1/quotes/{quote.id}", headers=sign_in(api, "bruno")).status_code == 404
    approved = api.post(f"/api/v1/quotes/{quote.id}/approval", json=decision, headers=manager)
    assert approved.status_code == 200 and approved.json()["approval"] == "approved"
    assert len(approved.json()["lines"]) == 2
    again = api.post(f"/api/v1/quotes/{quote.id}/approval", json=decision, headers=manager)
    assert again.status_code == 409 and "does not wait for an approval" in again.json()["detail"]
    assert (
        api.post(f"/api/v1/quotes/{quote.id}/approval", json={"decision": "maybe"}, headers=manager).status_code == 422
    )
    alice.sync()
    with Session(alice.replica) as session:
        seen = session.get(Quote, quote.id)
        assert seen is not None and seen.approval == "approved" and seen.approval_note == "Client stratégique"
        set_quote_status(
            session=session, quote_id=quote.id, status="accepted", signed_by="Anne Martin", signed_at=SIGNED
        )
        order = order_from_quote(session=session, quote_id=quote.id)
        shown = order.gross_amount
    alice.sync()
    with ServerSession(_server(api)) as session:
        stored = session.get(Quote, quote.id)
        placed = session.get(Order, order.id)
        assert stored is not None and stored.status == "ordered" and stored.signed_by == "Anne Martin"
        assert stored.signed_at == SIGNED
        assert placed is not None and placed.quote_id == quote.id and placed.gross_amount == shown
        assert placed.net_amount == stored.net_amount and placed.discount_bp == 2000
    alice.sync()
    with Session(alice.replica) as session:
        seen = session.get(Quote, quote.id)
        assert seen is not None and seen.status == "ordered"


def test_a_refused_discount_cannot_be_accepted_and_says_why(api: TestClient, tmp_path: Path) -> None:
    alice = _device(api, tmp_path, "alice")
    quote = _quote(alice, 3000)
    alice.sync()
    manager = sign_in(api, "manon")
    refusal = {"decision": "refuse", "note": "30 % : hors politique commerciale"}
    assert api.post(f"/api/v1/quotes/{quote.id}/approval", json=refusal, headers=manager).status_code == 200
    alice.sync()
    with Session(alice.replica) as session, pytest.raises(InvalidEdit, match="hors politique commerciale"):
        set_quote_status(session=session, quote_id=quote.id, status="accepted", signed_by="Anne Martin")
    # Nor through the server, whatever a device sends.
    with ServerSession(_server(api)) as session:
        version = session.get(Quote, quote.id).version  # type: ignore[union-attr]
    (result,) = push_updates(api, alice, "quote", quote.id, version, 7_001, {"status": "accepted"})
    assert result["status"] == "rejected" and "refused this quote's discount" in result["reason"]


def test_the_steps_of_a_quote_are_checked_on_both_sides(api: TestClient, tmp_path: Path) -> None:
    alice = _device(api, tmp_path, "alice")
    quote = _quote(alice, 0)
    with Session(alice.replica) as session:
        set_quote_status(session=session, quote_id=quote.id, status="refused")
        with pytest.raises(InvalidEdit, match="this quote is refused: it cannot change any more"):
            set_quote_status(session=session, quote_id=quote.id, status="accepted")
        with pytest.raises(InvalidEdit, match="only an accepted quote becomes an order"):
            order_from_quote(session=session, quote_id=quote.id)
    alice.sync()
    with ServerSession(_server(api)) as session:
        version = session.get(Quote, quote.id).version  # type: ignore[union-attr]
    (result,) = push_updates(api, alice, "quote", quote.id, version, 7_101, {"status": "sent"})
    assert result["status"] == "rejected" and result["reason"] == "this quote is refused: it cannot change any more"


def test_an_order_repriced_on_the_server_is_refused_readably_and_holds_nothing_else_up(
    api: TestClient, tmp_path: Path
) -> None:
    alice = _device(api, tmp_path, "alice")
    account, lines = _lines(alice)
    quote = _quote(alice, 500)
    with Session(alice.replica) as session:
        set_quote_status(session=session, quote_id=quote.id, status="accepted", signed_by="Anne Martin")
    alice.sync()
    # The tariff goes up on the server before the device hears of it...
    with ServerSession(_server(api)) as session:
        for line in lines:
            product = session.get(Product, line["product_id"])
            assert product is not None
            product.list_price_amount += 1_000
            for item in session.exec(select(PriceListItem).where(PriceListItem.product_id == product.id)):
                item.unit_price_amount += 1_000
        session.commit()
    with Session(alice.replica) as session:
        order = order_from_quote(session=session, quote_id=quote.id)
        order_id, shown = order.id, order.gross_amount
        # ...and the rep goes on working: a reminder and another quote after the order.
        reminder = create_record(
            session=session,
            entity="reminder",
            fields={"account_id": account, "due_at": "2026-12-04T08:00:00Z", "reason": "Rappeler pour la livraison"},
        )
        reminder_id = reminder.id
    with Session(alice.replica) as session:  # a quote of a product whose price did not change
        other = session.exec(select(Product.id).where(Product.active).order_by(col(Product.sku).desc())).first()
        assert other is not None
        later = create_quote(session=session, account_id=account, lines=[{"product_id": other, "quantity": 1}])
    alice.sync()
    with ServerSession(_server(api)) as session:
        assert session.get(Order, order_id) is None
        assert session.get(Reminder, reminder_id) is not None  # the rest went through
        after = session.get(Quote, later.id)
        assert after is not None and after.legal_number
        assert session.get(Quote, quote.id).status == "accepted"  # type: ignore[union-attr]
    with Session(alice.replica) as session:
        refused = pending_changes(session=session)["rejected"]
    assert [r["id"] for r in refused] == [order_id]
    reason = refused[0]["reason"]
    assert reason.startswith("prices changed: this order comes to €") and "with today's prices, not €" in reason
    assert f"not €{shown / 100:,.2f}" in reason


def test_a_signed_quote_never_changes_orders_once_as_quoted_and_a_stale_price_is_caught(
    api: TestClient, tmp_path: Path
) -> None:
    alice = _device(api, tmp_path, "alice")
    quote = _quote(alice, 0)
    with Session(alice.replica) as session:
        set_quote_status(
            session=session, quote_id=quote.id, status="accepted", signed_by="Anne Martin", signed_at=SIGNED
        )
        with pytest.raises(InvalidEdit, match="this quote is accepted: it cannot change any more"):
            set_quote_status(session=session, quote_id=quote.id, status="accepted", signed_by="Someone Else")
        order = order_from_quote(session=session, quote_id=quote.id)
        with pytest.raises(InvalidEdit, match="this quote's order is already placed"):
            order_from_quote(session=session, quote_id=quote.id)
        order_id = order.id
    alice.sync()
    with ServerSession(_server(api)) as session:
        stored = session.get(Quote, quote.id)
        assert stored is not None and stored.status == "ordered" and session.get(Order, order_id) is not None
        version = stored.version
    # Whatever a device sends: the signature of an ordered quote stays.
    (result,) = push_updates(api, alice, "quote", quote.id, version, 7_201, {"signed_by": "Someone Else"})
    assert result["status"] == "rejected" and result["reason"] == "this quote is ordered: it cannot change any more"
    # An order naming an accepted quote must be that quote's lines and discounts.
    second = _quote(alice, 0)
    with Session(alice.replica) as session:
        set_quote_status(session=session, quote_id=second.id, status="accepted", signed_by="Anne Martin")
    alice.sync()
    account, lines = _lines(alice)
    body = {
        "client_id": alice.state()["device_id"],
        "schema_version": 1,
        "mutations": [
            {
                "mid": 7_301,
                "entity": "order",
                "id": "0192f3e4-0000-7000-8000-00000000f00d",
                "op": "create",
                "fields": {
                    "account_id": second.account_id,
                    "quote_id": second.id,
                    "ordered_at": "2026-11-30T10:00:00Z",
                    "discount_bp": 10_000,  # everything free, "as quoted"
                    "lines": [{"product_id": x["product_id"], "quantity": x["quantity"]} for x in lines],
                    "expected_gross_amount": 0,
                },
            }
        ],
    }
    rep = {"Authorization": f"Bearer {alice._access_token}"}
    (refused,) = api.post("/api/v1/sync/push", json=body, headers=rep).json()["results"]
    assert refused["status"] == "rejected"
    assert refused["reason"] == "the order's lines or discounts are not those of the quote it names"
    # A quote made with prices the server has changed since is refused, with both totals.
    stale = _quote(alice, 0)
    with ServerSession(_server(api)) as session:
        for line in lines:
            for item in session.exec(select(PriceListItem).where(PriceListItem.product_id == line["product_id"])):
                item.unit_price_amount += 500
            product = session.get(Product, line["product_id"])
            assert product is not None
            product.list_price_amount += 500
        session.commit()
    alice.sync()
    with ServerSession(_server(api)) as session:
        assert session.get(Quote, stale.id) is None
    with Session(alice.replica) as session:
        reasons = [r["reason"] for r in pending_changes(session=session)["rejected"] if r["id"] == stale.id]
    assert len(reasons) == 1 and reasons[0].startswith("prices changed: this quote comes to €")
    assert f"not €{stale.gross_amount / 100:,.2f}: make it again with the customer" in reasons[0]


def test_a_quote_past_its_validity_is_not_accepted(api: TestClient, tmp_path: Path) -> None:
    alice = _device(api, tmp_path, "alice")
    account, lines = _lines(alice)
    with Session(alice.replica) as session:
        quote = create_quote(
            session=session,
            account_id=account,
            lines=lines,
            issued_on=date(2026, 10, 1),
            valid_until=date(2026, 10, 31),
        )
        with pytest.raises(InvalidEdit, match="this quote expired on 2026-10-31: make a new one"):
            set_quote_status(session=session, quote_id=quote.id, status="accepted", signed_by="Anne Martin")
        set_quote_status(session=session, quote_id=quote.id, status="expired")
