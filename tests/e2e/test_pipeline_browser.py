"""The pipeline in a real browser: a lead moved to prospect and an opportunity lost (with its
reason and competitor) with the cards' stage menus; the server records both with their history."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from app.ids import utcnow
from app.models import Account, LifecycleStageChange, Opportunity, OpportunityStageChange
from app.pipeline import opportunity_board
from app.replica import open_replica
from server.models import User
from tests.conftest import LiveServer
from tests.e2e.conftest import start_app
from tests.e2e.test_app_browser import _open, _signed_in, _type, _wait_text

pytestmark = pytest.mark.e2e


def _move(page: Any, host: Any, record_id: str, stage: str) -> None:
    """Open the card's stage menu and pick `stage`, as a finger would."""
    page.locator(f'[flt-semantics-identifier="move-{record_id}"] [role="button"]').click()
    host.get_by_role("menuitem", name=stage).click()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_lead_moved_to_prospect_and_a_deal_lost_to_a_competitor_reach_the_servers_history(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    with Session(live_server.engine) as session:
        alice = session.exec(select(User.id).where(User.username == "alice")).one()
        leads = session.exec(select(Account).where(Account.owner_id == alice, Account.lifecycle_stage == "lead")).all()
    lead = leads[0]
    started = utcnow()
    app = start_app(tmp_path / "device", server_url=live_server.url)
    try:
        page, host = _signed_in(browser, app.url, "alice")
        with Session(open_replica(tmp_path / "device")) as session:
            qualification = opportunity_board(session=session)[0]
        deal = qualification.cards[0]  # the first of the first column: on the screen
        # From the customers' list to the accounts' board; the lead goes to prospect.
        host.get_by_role("button", name="Pipeline").click()
        _wait_text(page.locator('[flt-semantics-identifier="column-lead"]'), f"Lead ({len(leads)})")
        _move(page, host, lead.id, "Prospect")
        _wait_text(page.locator('[flt-semantics-identifier="column-lead"]'), f"Lead ({len(leads) - 1})")
        # The opportunities' board: lost, which asks why (required) and to whom.
        host.get_by_role("button", name="Opportunités").click()
        _wait_text(
            page.locator('[flt-semantics-identifier="column-qualification"]'),
            f"Qualification ({qualification.count})",
        )
        _move(page, host, deal.id, "Perdue")
        host.get_by_role("button", name="Enregistrer").click()
        _wait_text(host.get_by_text("la raison est obligatoire", exact=False), "la raison est obligatoire")
        _type(host, "Raison de la perte", "Délai de livraison trop long")
        _type(host, "Concurrent (facultatif)", "Rational")
        host.get_by_role("button", name="Enregistrer").click()
        _wait_text(
            page.locator('[flt-semantics-identifier="column-qualification"]'),
            f"Qualification ({qualification.count - 1})",
        )
        assert host.get_by_role("textbox", name="Raison de la perte").count() == 0  # the dialog closed
        # The app syncs by itself after a change; the server has both, with their history.
        deadline = time.monotonic() + 45
        while True:
            with Session(live_server.engine) as session:
                account = session.get(Account, lead.id)
                lost = session.get(Opportunity, deal.id)
                if account and lost and account.lifecycle_stage == "prospect" and lost.stage == "lost":
                    break
            assert time.monotonic() < deadline, "the moves never reached the server"
            time.sleep(0.5)
        with Session(live_server.engine) as session:
            lost = session.get(Opportunity, deal.id)
            assert lost is not None
            assert (lost.lost_reason, lost.competitor, lost.probability_pct) == (
                "Délai de livraison trop long",
                "Rational",
                0,
            )
            assert lost.closed_at is not None and lost.closed_at >= started
            account_move = session.exec(
                select(LifecycleStageChange)
                .where(LifecycleStageChange.account_id == lead.id)
                .order_by(col(LifecycleStageChange.changed_at).desc())
            ).first()
            assert account_move is not None
            assert (account_move.from_stage, account_move.to_stage, account_move.changed_by) == (
                "lead",
                "prospect",
                alice,
            )
            assert account_move.changed_at >= started
            deal_move = session.exec(
                select(OpportunityStageChange).where(OpportunityStageChange.opportunity_id == deal.id)
            ).one()
            assert (deal_move.from_stage, deal_move.to_stage, deal_move.changed_by) == ("qualification", "lost", alice)
            assert deal_move.changed_at >= started
        # Back on the board after the pull: the lost deal with its reason and competitor.
        page, host = _open(browser, app.url + "pipeline/opportunities")
        _wait_text(
            page.locator(f'[flt-semantics-identifier="pipeline-opportunity-{deal.id}"]'),
            "Délai de livraison trop long · Rational",
        )
        page.close()
    finally:
        app.stop()
