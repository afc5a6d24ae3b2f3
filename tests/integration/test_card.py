"""The whole customer card from the replica, section by section, checked against the server's
own records after a real sync of the demo company; and the brief on a real account."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.card import customer_card, month_starts
from app.dashboard import book_rfm
from app.edits import create_record
from app.models import (
    Account,
    Activity,
    CampaignResponse,
    Contact,
    Invoice,
    LifecycleStageChange,
    Opportunity,
    Order,
    OrderLine,
    Payment,
    Reminder,
    SurveyResponse,
    Ticket,
    Visit,
)
from server.db import ServerSession
from sync.engine import SyncEngine
from tests.conftest import DEMO_DAY

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _richest_account(session: Session) -> Account:
    """alice's account with the most of everything: tickets, surveys, opportunities and orders."""
    accounts = session.exec(select(Account).where(col(Account.lifecycle_stage).in_(("client", "ambassador")))).all()

    def richness(account: Account) -> tuple[int, ...]:
        def count(model: type, *where: object) -> int:
            return len(session.exec(select(model.id).where(model.account_id == account.id, *where)).all())  # type: ignore[attr-defined]

        return (
            count(Ticket) > 0,
            count(SurveyResponse) > 0,
            count(CampaignResponse) > 0,
            count(Opportunity) > 0,
            count(Invoice, Invoice.status == "open") > 0,
            count(Order),
        )

    return max(accounts, key=richness)


def book_rfm_of(device: SyncEngine, account_id: str) -> object:
    with Session(device.replica) as session:
        return book_rfm(session=session, day=DEMO_DAY).get(account_id)


def test_every_section_of_the_card_comes_from_the_replica(api: TestClient, alice: SyncEngine) -> None:
    server = api.app.state.engine  # type: ignore[attr-defined]
    with Session(alice.replica) as device:
        account = _richest_account(device)
    # A cancelled order counts nowhere: not in the orders, nor the revenue, nor the chart.
    with ServerSession(server) as session:
        latest = session.exec(
            select(Order).where(Order.account_id == account.id).order_by(col(Order.ordered_at).desc())
        ).first()
        assert latest is not None and latest.ordered_at.date() > DEMO_DAY - timedelta(days=300)
        latest.status = "cancelled"
        session.add(latest)
        session.commit()
        cancelled_id = latest.id
    alice.sync()
    with Session(alice.replica) as device:
        card = customer_card(
            session=device, account_id=account.id, today=DEMO_DAY, book_rfm=book_rfm(session=device, day=DEMO_DAY)
        )
    assert card is not None
    with Session(server) as session:

        def rows(model: type, *where: object) -> list:  # type: ignore[type-arg]
            return list(session.exec(select(model).where(model.account_id == account.id, *where)))  # type: ignore[attr-defined]

        orders = [o for o in rows(Order) if o.status != "cancelled"]
        lines = [line for line in rows(OrderLine) if line.order_id != cancelled_id]
        contacts = rows(Contact)
        open_invoices = rows(Invoice, Invoice.status == "open")
        payments = rows(Payment)
        stages = rows(LifecycleStageChange)
        activities = rows(Activity)
        visits_done = rows(Visit, Visit.status == "done")
        tickets = rows(Ticket)
        surveys = rows(SurveyResponse)
        answers = rows(CampaignResponse)
        opportunities = rows(Opportunity)
        reminders = rows(Reminder, Reminder.done == False)  # noqa: E712

    # Identity and the pipeline's history.
    assert card.account["id"] == account.id and card.account["siren"] == account.siren
    assert [s.to_stage for s in card.stage_history] == [s.to_stage for s in sorted(stages, key=lambda s: s.changed_at)]
    # The people, the primary one first, with what a rep keeps of them.
    assert {c.id for c in card.contacts} == {c.id for c in contacts}
    assert card.contacts[0].is_primary
    by_id = {c.id: c for c in contacts}
    for line in card.contacts:
        source = by_id[line.id]
        assert (line.birthday, line.hobbies, line.family, line.responsiveness) == (
            source.birthday,
            source.hobbies,
            source.family,
            source.responsiveness,
        )
        assert line.consent["email"] == source.consent_email and line.next_birthday is not None
        assert DEMO_DAY <= line.next_birthday < DEMO_DAY + timedelta(days=367)
    # Purchases: the count, the 24 months of the chart month by month, the top products.
    assert card.order_count == len(orders)
    assert [m.month for m in card.revenue_by_month] == month_starts(DEMO_DAY) and len(card.revenue_by_month) == 24
    by_month: Counter[str] = Counter()
    for order in orders:
        if order.ordered_at.astimezone(UTC).date() >= month_starts(DEMO_DAY)[0]:
            by_month[f"{order.ordered_at.astimezone(UTC):%Y-%m}"] += order.net_amount
    assert {f"{m.month:%Y-%m}": m.net_amount for m in card.revenue_by_month if m.net_amount} == dict(by_month)

    def revenue(first: date, last: date) -> int:
        return sum(o.net_amount for o in orders if first <= o.ordered_at.astimezone(UTC).date() <= last)

    assert card.year_to_date == revenue(date(DEMO_DAY.year, 1, 1), DEMO_DAY)
    assert card.last_year_to_date == revenue(date(DEMO_DAY.year - 1, 1, 1), DEMO_DAY.replace(year=DEMO_DAY.year - 1))
    # The 12 months are the 365 days ending on the day, as the figures count a year.
    assert card.revenue_12_months == revenue(DEMO_DAY - timedelta(days=364), DEMO_DAY)
    assert cancelled_id not in {o.id for o in orders} and cancelled_id in {o.id for o in card.orders}
    assert next(o for o in card.orders if o.id == cancelled_id).status == "cancelled"
    per_product: Counter[str] = Counter()
    for line in lines:
        per_product[line.product_id] += line.net_amount
    assert [p.product_id for p in card.top_products] == [pid for pid, _net in per_product.most_common(5)]
    assert card.top_products[0].net_amount == per_product.most_common(1)[0][1]
    # Payments: open invoices with their days late, the latest payments with their method.
    assert {i.id for i in card.open_invoices} == {i.id for i in open_invoices}
    for line in card.open_invoices:
        assert line.days_overdue == max(0, (DEMO_DAY - line.due_on).days)
    latest = sorted(payments, key=lambda p: p.paid_on, reverse=True)[:10]
    assert [(p.paid_on, p.method, p.amount) for p in card.payments] == [(p.paid_on, p.method, p.amount) for p in latest]
    # Every exchange: each activity once, and the visits no activity tells of.
    told = {a.visit_id for a in activities if a.visit_id}
    assert len(card.timeline) == len(activities) + len([v for v in visits_done if v.id not in told])
    assert [i.occurred_at for i in card.timeline] == sorted((i.occurred_at for i in card.timeline), reverse=True)
    # Complaints with their state, campaign and survey answers, deals, reminders.
    assert Counter(t.status for t in card.tickets) == Counter(t.status for t in tickets)
    assert [(s.kind, s.score) for s in card.survey_answers] == [
        (s.kind, s.score) for s in sorted(surveys, key=lambda s: s.answered_at, reverse=True)
    ]
    assert len(card.campaign_answers) == len(answers)
    assert {o.name for o in card.opportunities} == {o.name for o in opportunities}
    assert [r.reason for r in card.reminders] == [r.reason for r in sorted(reminders, key=lambda r: r.due_at)]
    # The brief: at most seven points, the most important first, RFM ranked among the book.
    assert 1 <= len(card.brief) <= 7
    assert [p.priority for p in card.brief] == sorted((p.priority for p in card.brief), reverse=True)
    assert card.rfm is not None and card.rfm == book_rfm_of(alice, account.id)


def test_the_brief_tells_what_is_overdue_open_and_due(alice: SyncEngine) -> None:
    """Facts written on the device show in the brief at once, the urgent ones first."""
    with Session(alice.replica) as device:
        late = device.exec(
            select(Invoice).where(Invoice.status == "open", Invoice.due_on < DEMO_DAY - timedelta(days=30))
        ).first()
        assert late is not None, "the demo company has invoices more than 30 days late"
        account = device.get(Account, late.account_id)
        assert account is not None
        create_record(
            session=device,
            entity="ticket",
            fields={
                "account_id": account.id,
                "subject": "Four en panne",
                "kind": "after_sales",
                "priority": "high",
                "opened_at": "2026-11-16T09:00:00+00:00",
            },
        )
        card = customer_card(session=device, account_id=account.id, today=DEMO_DAY)
    assert card is not None
    kinds = [p.kind for p in card.brief]
    assert "tickets" in kinds
    urgent = next(p for p in card.brief if p.kind == "tickets")
    assert urgent.facts["subject"] == "Four en panne" and urgent.facts["days_open"] == 2
    # The overdue invoices come first (30 days late and more), the urgent complaint right after.
    assert card.overdue_amount > 0 and kinds[:2] == ["overdue", "tickets"]
    overdue = card.brief[0].facts
    assert overdue["amount"] == card.overdue_amount and overdue["oldest_days"] >= 30


def test_an_unknown_account_has_no_card(alice: SyncEngine) -> None:
    with Session(alice.replica) as device:
        assert customer_card(session=device, account_id="no-such-account", today=date(2026, 11, 18)) is None
