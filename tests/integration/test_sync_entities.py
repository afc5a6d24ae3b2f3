"""Everything a rep writes offline goes through the outbox: visits and reports, reminders,
tickets, leads, quotes (version-checked) and orders (commands the server re-prices)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.edits import create_record, pending_changes, update_record
from app.ids import utcnow
from app.models import (
    Account,
    LifecycleStageChange,
    Order,
    OrderLine,
    PriceListItem,
    Product,
    Quote,
    QuoteLine,
    Reminder,
    Ticket,
    Visit,
)
from app.pricing import LineIn, load_catalogue, price
from app.quotes import create_quote
from server.db import ServerSession
from sync.engine import SyncEngine
from tests.integration.test_sync_push import _an_account, _device, _server

NOON = "2026-11-24T11:00:00Z"


def _products(device: SyncEngine, count: int) -> list[Product]:
    with Session(device.replica) as session:
        return list(session.exec(select(Product).where(Product.active).order_by(col(Product.sku)).limit(count)).all())


def test_a_visit_planned_moved_checked_in_and_reported_offline_reaches_the_server(
    api: TestClient, tmp_path: Path
) -> None:
    phone = _device(api, tmp_path, "alice", "phone")
    laptop = _device(api, tmp_path, "alice", "laptop")
    account = _an_account(api, "alice")
    with Session(phone.replica) as session:
        visit = create_record(
            session=session,
            entity="visit",
            fields={"account_id": account.id, "starts_at": NOON, "ends_at": "2026-11-24T12:00:00Z", "purpose": "Devis"},
        )
        update_record(
            session=session,
            entity="visit",
            record_id=visit.id,
            changes={"starts_at": "2026-11-24T14:00:00Z", "ends_at": "2026-11-24T15:00:00Z"},
        )
    phone.sync()
    laptop.sync()
    with Session(phone.replica) as session:
        update_record(
            session=session,
            entity="visit",
            record_id=visit.id,
            changes={
                "status": "done",
                "checked_in_at": "2026-11-24T14:03:00Z",
                "check_in_lat": 45.19,
                "check_in_lon": 5.72,
                "report_notes": "Intéressé par la gamme bio",
                "outcome": "quote_requested",
                "next_steps": "Envoyer le devis lundi",
            },
        )
    # Meanwhile on the laptop, the same visit's purpose is corrected: a different field, kept.
    with Session(laptop.replica) as session:
        update_record(session=session, entity="visit", record_id=visit.id, changes={"purpose": "Devis gamme bio"})
    phone.sync()
    laptop.sync()
    with ServerSession(_server(api)) as session:
        stored = session.get(Visit, visit.id)
        assert stored is not None
        assert (stored.status, stored.report_notes, stored.purpose) == (
            "done",
            "Intéressé par la gamme bio",
            "Devis gamme bio",
        )
        assert stored.starts_at.isoformat() == "2026-11-24T14:00:00+00:00" and stored.rep_id is not None
    # A report is written once: another device cannot overwrite it.
    with Session(laptop.replica) as session:
        local = session.get(Visit, visit.id)
        assert local is not None and local.report_notes == "Intéressé par la gamme bio"
        try:
            update_record(session=session, entity="visit", record_id=visit.id, changes={"report_notes": "Autre"})
        except ValueError as exc:
            assert "already written" in str(exc)
        else:
            raise AssertionError("a written report was overwritten on the device")


def test_reminders_tickets_and_leads_made_offline_reach_the_server(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path, "alice")
    account = _an_account(api, "alice")
    with Session(device.replica) as session:
        reminder = create_record(
            session=session,
            entity="reminder",
            fields={"account_id": account.id, "due_at": NOON, "reason": "Rappeler pour le salon"},
        ).id
        ticket = create_record(
            session=session,
            entity="ticket",
            fields={"account_id": account.id, "subject": "Palette abîmée", "opened_at": NOON, "kind": "return"},
        ).id
        lead = create_record(
            session=session,
            entity="account",
            fields={"name": "Fromagerie Nouvelle", "lifecycle_stage": "lead", "origin": "trade_fair"},
        ).id
    device.sync()
    with Session(device.replica) as session:
        update_record(
            session=session,
            entity="reminder",
            record_id=reminder,
            changes={"done": True, "done_at": "2026-11-24T16:00:00Z"},
        )
        update_record(session=session, entity="ticket", record_id=ticket, changes={"status": "resolved"})
    device.sync()
    with ServerSession(_server(api)) as session:
        stored_reminder = session.get(Reminder, reminder)
        stored_ticket = session.get(Ticket, ticket)
        stored_lead = session.get(Account, lead)
        assert stored_reminder is not None and stored_reminder.done and stored_reminder.owner_id is not None
        assert stored_ticket is not None and (stored_ticket.status, stored_ticket.kind) == ("resolved", "return")
        assert stored_lead is not None and stored_lead.lifecycle_stage == "lead"
        assert session.exec(select(LifecycleStageChange).where(LifecycleStageChange.account_id == lead)).one()
    with Session(device.replica) as session:
        assert pending_changes(session=session) == {"pending": 0, "rejected": [], "conflicts": []}


def test_a_quote_is_priced_the_same_on_both_sides_and_changed_only_from_its_latest_version(
    api: TestClient, tmp_path: Path
) -> None:
    phone = _device(api, tmp_path, "alice", "phone")
    laptop = _device(api, tmp_path, "alice", "laptop")
    account = _an_account(api, "alice")
    products = _products(phone, 3)
    with Session(phone.replica) as session:
        quote = create_quote(
            session=session,
            account_id=account.id,
            lines=[
                {"product_id": products[0].id, "quantity": 3},
                {"product_id": products[1].id, "quantity": 7, "discount_bp": 1250},
                {"product_id": products[2].id, "quantity": 1},
            ],
        )
        device_totals = (quote.net_amount, quote.tax_amount, quote.gross_amount)
    phone.sync()
    with ServerSession(_server(api)) as session:
        stored = session.get(Quote, quote.id)
        assert stored is not None
        assert (stored.net_amount, stored.tax_amount, stored.gross_amount) == device_totals
        server_lines = {line.id for line in session.exec(select(QuoteLine).where(QuoteLine.quote_id == quote.id))}
    assert len(server_lines) == 3
    with Session(phone.replica) as session:  # the device's own lines became the server's, not doubled
        assert {
            line.id for line in session.exec(select(QuoteLine).where(QuoteLine.quote_id == quote.id))
        } == server_lines
    laptop.sync()
    # Both devices change the quote from the same version: the first wins, the second is refused.
    with Session(laptop.replica) as session:
        update_record(session=session, entity="quote", record_id=quote.id, changes={"status": "sent"})
    with Session(phone.replica) as session:
        update_record(session=session, entity="quote", record_id=quote.id, changes={"notes": "Remise fidélité"})
    laptop.sync()
    phone.sync()
    with Session(phone.replica) as session:
        refused = pending_changes(session=session)["rejected"]
        shown = session.get(Quote, quote.id)
    assert [r["reason"] for r in refused] == [
        "this quote changed on the server since you opened it: review it and make your change again"
    ]
    assert shown is not None and shown.status == "sent" and shown.notes is None  # the server's quote


def test_an_order_is_a_command_the_server_reprices(api: TestClient, tmp_path: Path) -> None:
    device = _device(api, tmp_path, "alice")
    account = _an_account(api, "alice")
    products = _products(device, 2)
    lines = [{"product_id": products[0].id, "quantity": 4}, {"product_id": products[1].id, "quantity": 2}]
    with Session(device.replica) as session:
        order = create_record(
            session=session,
            entity="order",
            fields={"account_id": account.id, "ordered_at": NOON, "lines": lines},
        )
        shown_total = order.gross_amount  # type: ignore[attr-defined]
    device.sync()
    with ServerSession(_server(api)) as session:
        stored = session.get(Order, order.id)
        assert stored is not None and stored.gross_amount == shown_total
        assert sorted(
            line.quantity for line in session.exec(select(OrderLine).where(OrderLine.order_id == order.id))
        ) == [2, 4]
        # The tariff changes on the server before the device hears of it...
        product = session.get(Product, products[0].id)
        assert product is not None
        product.list_price_amount += 100
        for item in session.exec(select(PriceListItem).where(PriceListItem.product_id == product.id)):
            item.unit_price_amount += 100
        session.commit()
    with Session(device.replica) as session:
        second = create_record(
            session=session,
            entity="order",
            fields={"account_id": account.id, "ordered_at": NOON, "lines": lines},
        ).id
    device.sync()
    # ...so the server refuses the order at the old price, says why, and the rep sees it.
    with ServerSession(_server(api)) as session:
        assert session.get(Order, second) is None
    with Session(device.replica) as session:
        refused = pending_changes(session=session)["rejected"]
    with ServerSession(_server(api)) as session:
        catalogue = load_catalogue(
            session,
            account_id=account.id,
            product_ids=[x["product_id"] for x in lines],
            currency="EUR",
            day=utcnow().date(),
        )
        now = price(catalogue, [LineIn(**x) for x in lines], currency="EUR").gross_amount
    assert now > shown_total
    assert len(refused) == 1 and refused[0]["id"] == second
    assert refused[0]["reason"].startswith(f"prices changed: this order comes to €{now / 100:,.2f} ")
    assert f"not €{shown_total / 100:,.2f}" in refused[0]["reason"]
