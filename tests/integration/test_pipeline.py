"""The pipeline boards on a replica synced from the server: moves show at once on the device, the
server records each move in the stage history with its date, and the history comes back with
the next pull; losing needs a reason on both sides; the sales cycle reads the history."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.dashboard import book_figures
from app.edits import InvalidEdit, edit_account, pending_changes, update_record
from app.ids import new_id, utcnow
from app.models import Account, LifecycleStageChange, Opportunity, OpportunityStageChange
from app.pipeline import (
    ACCOUNT_STAGES,
    OPPORTUNITY_STAGES,
    account_board,
    move_account,
    move_opportunity,
    new_opportunity,
    opportunity_board,
    stage_history,
)
from server.db import ServerSession
from server.models import User
from sync.engine import SyncEngine
from tests.conftest import DEMO_DAY
from tests.integration.conftest import push_mutations, push_updates


def _server(api: TestClient) -> Any:
    return api.app.state.engine  # type: ignore[attr-defined]


def _alice_id(api: TestClient) -> str:
    with Session(_server(api)) as session:
        return session.exec(select(User.id).where(User.username == "alice")).one()


def _alice_accounts(api: TestClient, stage: str) -> list[Account]:
    with Session(_server(api)) as session:
        return list(
            session.exec(
                select(Account)
                .where(Account.owner_id == _alice_id(api), Account.lifecycle_stage == stage)
                .order_by(col(Account.name))
            )
        )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_boards_show_the_book_the_device_pulled(api: TestClient, alice: SyncEngine) -> None:
    with Session(_server(api)) as session:
        alice_id = _alice_id(api)
        accounts = list(session.exec(select(Account).where(Account.owner_id == alice_id)))
        changes = list(
            session.exec(
                select(LifecycleStageChange).where(col(LifecycleStageChange.account_id).in_([a.id for a in accounts]))
            )
        )
        opportunities = list(
            session.exec(select(Opportunity).where(col(Opportunity.account_id).in_([a.id for a in accounts])))
        )
    entered: dict[str, date] = {}
    for account in accounts:
        moves = [c.changed_at for c in changes if c.account_id == account.id and c.to_stage == account.lifecycle_stage]
        entered[account.id] = max(moves).date() if moves else account.created_at.date()
    with Session(alice.replica) as session:
        board = account_board(session=session, today=DEMO_DAY, limit=20)
        deals = opportunity_board(session=session, limit=1000)
    assert [c.stage for c in board] == list(ACCOUNT_STAGES)
    assert {c.stage: c.count for c in board if c.count} == dict(Counter(a.lifecycle_stage for a in accounts))
    for column in board:
        assert len(column.cards) <= 20 and column.more == max(0, column.count - 20)
        days = [card.days_in_stage for card in column.cards]
        assert days == sorted(days, reverse=True)  # the longest in the stage first
        for card in column.cards:
            assert card.stage == column.stage
            assert card.days_in_stage == max(0, (DEMO_DAY - entered[card.id]).days)
    assert any(column.more for column in board)  # the cap is met on the demo book
    assert [c.stage for c in deals] == list(OPPORTUNITY_STAGES)
    for column in deals:
        mine = [o for o in opportunities if o.stage == column.stage]
        assert {card.id for card in column.cards} == {o.id for o in mine}
        totals: dict[str, int] = defaultdict(int)
        for o in mine:
            totals[o.currency] += o.amount
        assert column.totals == dict(totals)
    assert sum(c.count for c in deals) == len(opportunities) > 0
    open_cards = [card for card in deals[0].cards if card.expected_close is not None]
    assert [card.expected_close for card in open_cards] == sorted(c.expected_close for c in open_cards)


def test_moves_show_at_once_and_the_servers_dated_history_comes_back_with_the_pull(
    api: TestClient, alice: SyncEngine
) -> None:
    lead = _alice_accounts(api, "lead")[0]
    before = utcnow()
    with Session(alice.replica) as session:
        move_account(session=session, account_id=lead.id, stage="prospect")
        board = account_board(session=session, today=datetime.now(UTC).date(), limit=10_000)
        moved = next(card for column in board for card in column.cards if card.id == lead.id)
        assert (moved.stage, moved.days_in_stage) == ("prospect", 0)  # before any sync
        deal = new_opportunity(
            session=session, account_id=lead.id, name="Four mixte 10 niveaux", amount=1_850_000, owner_id=None
        )
        move_opportunity(session=session, opportunity_id=deal.id, stage="proposal")
        move_opportunity(
            session=session, opportunity_id=deal.id, stage="lost", lost_reason="Prix", competitor="Rational"
        )
        lost = session.get(Opportunity, deal.id)
        assert lost is not None and (lost.stage, lost.lost_reason, lost.competitor) == ("lost", "Prix", "Rational")
        assert lost.closed_at is not None and lost.probability_pct == 0
        waiting = [m for m in stage_history(session=session, account_id=lead.id) if m.pending]
        assert {(m.kind, m.to_stage) for m in waiting} == {("account", "prospect"), ("opportunity", "lost")}
        deal_id, closed_at = deal.id, lost.closed_at
        # A deal of the demo's, won at the customer's two days ago with no network.
        older = session.exec(
            select(Opportunity).where(Opportunity.stage == "negotiation").order_by(col(Opportunity.id))
        ).first()
        assert older is not None
        won_at = before - timedelta(days=2)
        move_opportunity(session=session, opportunity_id=older.id, stage="won", at=won_at)
        older_id = older.id
    alice.sync()
    after = utcnow()
    with Session(_server(api)) as session:
        account = session.get(Account, lead.id)
        assert account is not None and account.lifecycle_stage == "prospect"
        change = session.exec(
            select(LifecycleStageChange)
            .where(LifecycleStageChange.account_id == lead.id)
            .order_by(col(LifecycleStageChange.changed_at).desc())
        ).first()
        assert change is not None and (change.from_stage, change.to_stage) == ("lead", "prospect")
        assert before <= change.changed_at <= after and change.changed_by == _alice_id(api)
        stored = session.get(Opportunity, deal_id)
        assert stored is not None and (stored.stage, stored.lost_reason, stored.competitor) == (
            "lost",
            "Prix",
            "Rational",
        )
        assert stored.closed_at == closed_at and stored.owner_id == _alice_id(api)
        rows = session.exec(
            select(OpportunityStageChange)
            .where(OpportunityStageChange.opportunity_id == deal_id)
            .order_by(col(OpportunityStageChange.changed_at), col(OpportunityStageChange.id))
        ).all()
        assert [(r.from_stage, r.to_stage) for r in rows] == [
            (None, "qualification"),
            ("qualification", "proposal"),
            ("proposal", "lost"),
        ]
        assert all(before <= r.changed_at <= after for r in rows)
        # Closed offline before the server heard of it: dated after its creation all the same.
        assert closed_at < rows[0].changed_at <= rows[-1].changed_at
        # A close made offline days ago is dated when the rep made it.
        won = session.exec(
            select(OpportunityStageChange).where(
                OpportunityStageChange.opportunity_id == older_id, OpportunityStageChange.to_stage == "won"
            )
        ).one()
        assert (won.from_stage, won.changed_at) == ("negotiation", won_at)
        assert session.get(Opportunity, older_id).probability_pct == 100  # type: ignore[union-attr]
    with Session(alice.replica) as session:
        history = stage_history(session=session, account_id=lead.id)
        assert not any(m.pending for m in history)
        assert [(m.from_stage, m.to_stage) for m in history if m.kind == "account"][-1] == ("lead", "prospect")
        assert [(m.name, m.to_stage) for m in history if m.record_id == deal_id] == [
            ("Four mixte 10 niveaux", "qualification"),
            ("Four mixte 10 niveaux", "proposal"),
            ("Four mixte 10 niveaux", "lost"),
        ]
        board = opportunity_board(session=session, limit=10_000)
        lost_column = next(c for c in board if c.stage == "lost")
        assert deal_id in {card.id for card in lost_column.cards}
        # Reopened: open again, its close and its reason gone.
        reopened = move_opportunity(session=session, opportunity_id=deal_id, stage="negotiation")
        assert (reopened.closed_at, reopened.lost_reason, reopened.competitor) == (None, None, "Rational")
    alice.sync()
    with Session(_server(api)) as session:
        stored = session.get(Opportunity, deal_id)
        assert stored is not None and (stored.stage, stored.closed_at, stored.lost_reason) == (
            "negotiation",
            None,
            None,
        )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_losing_without_a_reason_is_refused_on_the_device_and_on_the_server(api: TestClient, alice: SyncEngine) -> None:
    prospect = next(a for a in _alice_accounts(api, "prospect") if a.lost_reason is None)
    with Session(alice.replica) as session:
        deal = session.exec(
            select(Opportunity).where(col(Opportunity.stage).in_(("qualification", "proposal", "negotiation")))
        ).first()
        assert deal is not None
        for reason in (None, "", "   "):
            with pytest.raises(InvalidEdit, match="lost_reason"):
                move_account(session=session, account_id=prospect.id, stage="lost", lost_reason=reason)
            with pytest.raises(InvalidEdit, match="lost_reason"):
                move_opportunity(session=session, opportunity_id=deal.id, stage="lost", lost_reason=reason)
        with pytest.raises(InvalidEdit, match="stage"):
            move_account(session=session, account_id=prospect.id, stage="customer")
        assert pending_changes(session=session)["pending"] == 0
        kept = session.get(Account, prospect.id)
        assert kept is not None and kept.lifecycle_stage == "prospect"
        deal_id, deal_version, deal_stage = deal.id, deal.version, deal.stage
        account_version = kept.version
    # A device that skipped its checks: the server refuses the same, each with its reason.
    results = push_updates(
        api,
        alice,
        "account",
        prospect.id,
        account_version,
        8_001,
        {"lifecycle_stage": "lost"},
        {"lifecycle_stage": "lost", "lost_reason": "  "},
    )
    results += push_updates(api, alice, "opportunity", deal_id, deal_version, 8_011, {"stage": "lost"})
    results += push_mutations(
        api,
        alice,
        {
            "mid": 8_021,
            "entity": "opportunity",
            "id": new_id(),
            "op": "create",
            "fields": {"account_id": prospect.id, "name": "Lave-vaisselle", "stage": "lost"},
        },
    )
    assert [r["status"] for r in results] == ["rejected"] * 4
    assert all("lost_reason" in r["reason"] for r in results)
    with Session(_server(api)) as session:
        assert session.get(Account, prospect.id).lifecycle_stage == "prospect"  # type: ignore[union-attr]
        assert session.get(Opportunity, deal_id).stage == deal_stage  # type: ignore[union-attr]
        assert not session.exec(
            select(LifecycleStageChange).where(
                LifecycleStageChange.account_id == prospect.id, LifecycleStageChange.to_stage == "lost"
            )
        ).first()
    # With a reason it goes through, and the history records it.
    results = push_updates(
        api,
        alice,
        "account",
        prospect.id,
        account_version,
        8_031,
        {"lifecycle_stage": "lost", "lost_reason": "Parti chez un concurrent", "competitor": "Métro"},
    )
    assert results[0]["status"] == "applied"
    alice.sync()
    with Session(alice.replica) as session:
        account = session.get(Account, prospect.id)
        assert account is not None and (account.lifecycle_stage, account.competitor) == ("lost", "Métro")
        moves = stage_history(session=session, account_id=prospect.id)
        assert (moves[-1].from_stage, moves[-1].to_stage, moves[-1].pending) == ("prospect", "lost", False)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_customer_lost_without_a_reason_before_still_takes_other_edits(api: TestClient, alice: SyncEngine) -> None:
    """An import (the ERP's lost customers) writes no reason: only a move, or a change of the
    reason, must give one; a new phone number of such a customer was refused on both sides."""
    with ServerSession(_server(api)) as session:
        account = session.exec(
            select(Account).where(Account.owner_id == _alice_id(api), Account.lifecycle_stage == "client")
        ).first()
        deal = session.exec(
            select(Opportunity)
            .join(Account, col(Account.id) == col(Opportunity.account_id))
            .where(Account.owner_id == _alice_id(api), col(Opportunity.stage).in_(("proposal", "negotiation")))
        ).first()
        assert account is not None and deal is not None
        account.lifecycle_stage, account.lost_reason = "lost", None
        deal.stage, deal.lost_reason = "lost", None
        session.commit()
        account_id, deal_id = account.id, deal.id
    alice.sync()
    with Session(alice.replica) as session:
        edit_account(session=session, account_id=account_id, changes={"phone": "+33 4 78 00 00 01"})
        update_record(session=session, entity="opportunity", record_id=deal_id, changes={"amount": 420_000})
        with pytest.raises(InvalidEdit, match="lost_reason"):  # emptying the reason is still a loss without one
            update_record(session=session, entity="opportunity", record_id=deal_id, changes={"lost_reason": " "})
    report = alice.sync()
    assert report.pushed.rejected == 0
    with Session(_server(api)) as session:
        stored, stored_deal = session.get(Account, account_id), session.get(Opportunity, deal_id)
        assert stored is not None and (stored.lifecycle_stage, stored.phone) == ("lost", "+33 4 78 00 00 01")
        assert stored_deal is not None and (stored_deal.stage, stored_deal.amount) == ("lost", 420_000)


def _expected_cycles(api: TestClient, start: date, end: date) -> tuple[float | None, float | None]:
    """The two cycles of alice's book over [start, end], worked out from the server's rows."""
    with Session(_server(api)) as session:
        ids = [a.id for a in session.exec(select(Account).where(Account.owner_id == _alice_id(api)))]
        won = session.exec(
            select(Opportunity).where(col(Opportunity.account_id).in_(ids), Opportunity.stage == "won")
        ).all()
        deal_rows = session.exec(
            select(OpportunityStageChange).where(col(OpportunityStageChange.account_id).in_(ids))
        ).all()
        account_rows = session.exec(
            select(LifecycleStageChange).where(col(LifecycleStageChange.account_id).in_(ids))
        ).all()
    deal_days = []
    for o in won:
        rows = [r for r in deal_rows if r.opportunity_id == o.id]
        created = [r.changed_at.date() for r in rows if r.from_stage is None]
        won_on = [r.changed_at.date() for r in rows if r.to_stage == "won"]
        first = min(created) if created else o.created_at.date()
        last = max(won_on) if won_on else (o.closed_at.date() if o.closed_at else None)
        if last is not None and start <= last <= end:
            deal_days.append((last - first).days)
    account_days = []
    for account_id in ids:
        rows = [r for r in account_rows if r.account_id == account_id]
        leads = [r.changed_at.date() for r in rows if r.to_stage == "lead"]
        if not leads:
            continue
        became = [
            r.changed_at.date() for r in rows if r.to_stage in ("buyer", "client") and r.changed_at.date() >= min(leads)
        ]
        if became and start <= min(became) <= end:
            account_days.append((min(became) - min(leads)).days)
    return (
        statistics.median(deal_days) if deal_days else None,
        statistics.median(account_days) if account_days else None,
    )


def test_the_sales_cycle_reads_the_stage_history_where_there_is_one(api: TestClient, alice: SyncEngine) -> None:
    period = (DEMO_DAY - timedelta(days=1800), DEMO_DAY + timedelta(days=60))  # the whole demo book
    today = utcnow().date()
    with Session(alice.replica) as session:
        before = book_figures(session=session, start=period[0], end=period[1])
    # Before any history of opportunities: created_at to closed_at, as before the history existed.
    assert (before["sales_cycle_days"], before["account_cycle_days"]) == _expected_cycles(api, *period)
    assert before["account_cycle_days"] == 30  # the demo's customers became buyers a month after lead
    # History written on the server for half of alice's won deals (an import of older boards):
    # created ten days before their created_at, won five days after their closed_at.
    with ServerSession(_server(api)) as session:
        ids = [a.id for a in session.exec(select(Account).where(Account.owner_id == _alice_id(api)))]
        won = session.exec(
            select(Opportunity)
            .where(col(Opportunity.account_id).in_(ids), Opportunity.stage == "won")
            .order_by(col(Opportunity.id))
        ).all()
        assert len(won) >= 4
        for deal in won[::2]:
            assert deal.closed_at is not None
            session.add(
                OpportunityStageChange(
                    account_id=deal.account_id,
                    opportunity_id=deal.id,
                    to_stage="qualification",
                    changed_at=deal.created_at - timedelta(days=10),
                )
            )
            session.add(
                OpportunityStageChange(
                    account_id=deal.account_id,
                    opportunity_id=deal.id,
                    from_stage="negotiation",
                    to_stage="won",
                    changed_at=deal.closed_at + timedelta(days=5),
                )
            )
        session.commit()
    # And one deal made and won on the device today: its history comes from the server.
    lead = _alice_accounts(api, "lead")[0]
    with Session(alice.replica) as session:
        deal = new_opportunity(session=session, account_id=lead.id, name="Cellule de refroidissement")
        alice.sync()
        move_opportunity(session=session, opportunity_id=deal.id, stage="won")
        move_account(session=session, account_id=lead.id, stage="buyer")
    alice.sync()
    expected = _expected_cycles(api, *period)
    assert expected[0] != before["sales_cycle_days"]
    with Session(alice.replica) as session:
        after = book_figures(session=session, start=period[0], end=period[1])
        today_only = book_figures(session=session, start=today, end=today)
    assert (after["sales_cycle_days"], after["account_cycle_days"]) == expected
    assert (today_only["sales_cycle_days"], today_only["account_cycle_days"]) == _expected_cycles(api, today, today)
    # The server's figures, from its own database, say the same.
    headers = {"Authorization": f"Bearer {alice._access_token}"}
    answer = api.get(
        "/api/v1/figures", params={"from": period[0].isoformat(), "to": period[1].isoformat()}, headers=headers
    ).json()
    assert (answer["sales_cycle_days"], answer["account_cycle_days"]) == expected
