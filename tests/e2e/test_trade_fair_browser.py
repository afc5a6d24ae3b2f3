"""Trade-fair mode in a real browser: an event opened offline and three people captured with the
keyboard alone, one of them attached to a customer the rep already has; then the sync."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from app.models import Account, Activity, Campaign, Contact, EmailMessage
from app.preferences import badge_mapping
from app.replica import open_replica
from sync.engine import SyncEngine
from tests.conftest import LiveServer, start_live_server
from tests.e2e.conftest import start_app
from tests.e2e.test_app_browser import _known_order, _open, _signed_in, _wait_text
from tests.integration.test_lead_merge import _capture, _open_event

pytestmark = pytest.mark.e2e


def _contact_id(data_dir: Path, last_name: str) -> str:
    """A contact's id as the device made it (the follow-up cards are named by it)."""
    engine = open_replica(data_dir)
    try:
        with Session(engine) as session:
            return session.exec(
                select(Contact.id).where(Contact.last_name == last_name, Contact.origin == "trade_fair")
            ).one()
    finally:
        engine.dispose()


def _keys(page: Any, *steps: str) -> None:
    """Type into the focused field, or press a key given as <Key>; a pause after each step lets
    Flutter move its focus and attach its text input."""
    for step in steps:
        if step.startswith("<") and step.endswith(">"):
            page.keyboard.press(step[1:-1])
        else:
            page.keyboard.type(step, delay=15)
        time.sleep(0.35)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_three_leads_captured_offline_with_the_keyboard_reach_the_server_with_the_event_as_origin(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    existing, _order = _known_order(live_server)
    port = int(live_server.url.rsplit(":", 1)[1])
    app = start_app(tmp_path / "device", server_url=live_server.url)
    server = live_server
    try:
        page, host = _signed_in(browser, app.url, "alice")
        live_server.stop()  # the fair's hall has no network
        page.close()
        page, host = _open(browser, app.url + "events")
        host.get_by_role("textbox", name="Nom de l'événement").wait_for(timeout=30_000)
        time.sleep(2)
        # The event's name has the focus: type it, Tab to the place, Enter opens the event.
        _keys(page, "Salon Vinitech", "<Tab>", "Bordeaux", "<Enter>")
        _wait_text(page.locator('[flt-semantics-identifier="lead-count"]'), "0 personne(s) rencontrée(s)")
        time.sleep(1)
        # A new company: Enter saves, and the form is blank again with the focus on the first name.
        _keys(page, "Léa", "<Tab>", "Girard", "<Tab>", "Domaine des Aubiers", "<Tab>", "lea@aubiers.fr")
        _keys(page, "<Tab>", "06 12 34 56 78", "<Enter>")
        _wait_text(page.locator('[flt-semantics-identifier="lead-count"]'), "1 personne(s) rencontrée(s)")
        # Someone of a customer the rep already has: Enter stops on the suggestion, Enter attaches,
        # the focus goes to the next step, Enter saves.
        _keys(page, "Marc", "<Tab>", "Nouveau", "<Tab>", existing.name.upper())
        _wait_text(page.locator('[flt-semantics-identifier="lead-matches"]'), f"Rattacher à {existing.name}")
        _keys(page, "<Enter>")
        _wait_text(page.locator('[flt-semantics-identifier="lead-message"]'), "peut-être un client existant")
        _keys(page, "<Enter>")
        _wait_text(page.locator('[flt-semantics-identifier="lead-attached"]'), f"Rattaché à {existing.name}")
        _keys(page, "Rappeler lundi", "<Enter>")
        _wait_text(page.locator('[flt-semantics-identifier="lead-count"]'), "2 personne(s) rencontrée(s)")
        _keys(page, "Tom", "<Tab>", "Baker", "<Tab>", "Baker Wines Ltd", "<Tab>", "tom@bakerwines.co.uk", "<Enter>")
        _wait_text(page.locator('[flt-semantics-identifier="lead-count"]'), "3 personne(s) rencontrée(s)")
        girard_id = _contact_id(app.data_dir, "Girard")
        # Still offline, the follow-ups: one drafted per new person with an e-mail, each in their
        # language; sent, they wait in the outbox.
        host.get_by_role("button", name="Relances").click()
        _wait_text(page.locator(f'[flt-semantics-identifier="followup-{girard_id}"]'), "lea@aubiers.fr")
        assert page.locator('[flt-semantics-identifier^="followup-"]').count() >= 2
        host.get_by_role("button", name="Envoyer").click()
        _wait_text(page.locator('[flt-semantics-identifier="followup-message"]'), "2 e-mail(s)")
        # Back online: the app syncs by itself.
        server = start_live_server(live_server.engine, tmp_path / "again", port=port)
        _wait_text(host.get_by_text(re.compile("Synchronisé")), "Synchronisé", seconds=90)
        page.close()
    finally:
        app.stop()
        server.stop()
    with Session(live_server.engine) as session:
        event = session.exec(select(Campaign).where(Campaign.name == "Salon Vinitech")).one()
        assert (event.channel, event.place) == ("trade_fair", "Bordeaux")
        leads = session.exec(select(Account).where(Account.origin_campaign_id == event.id)).all()
        assert sorted(a.name for a in leads) == ["Baker Wines Ltd", "Domaine des Aubiers"]
        assert {(a.lifecycle_stage, a.origin) for a in leads} == {("lead", "trade_fair")}
        people = session.exec(select(Contact).where(Contact.origin_campaign_id == event.id)).all()
        by_name = {p.last_name: p for p in people}
        assert set(by_name) == {"Girard", "Nouveau", "Baker"}
        assert by_name["Nouveau"].account_id == existing.id  # one new contact on the existing account
        assert {by_name["Girard"].account_id, by_name["Baker"].account_id} == {a.id for a in leads}
        assert by_name["Girard"].mobile == "+33612345678" and by_name["Baker"].language == "en"
        assert all(p.origin == "trade_fair" for p in people)
        # The consent box, left ticked: each handed over their card to be followed up by e-mail.
        assert all(p.consent_email for p in people)
        captured = session.exec(select(Activity).where(Activity.campaign_id == event.id)).all()
        assert len(captured) == 3
        steps = session.exec(select(Activity.next_step).where(col(Activity.contact_id) == by_name["Nouveau"].id)).all()
        assert steps == ["Rappeler lundi"]
        mails = session.exec(select(EmailMessage).where(EmailMessage.campaign_id == event.id)).all()
        assert sorted((m.to_address, m.language, m.status) for m in mails) == [
            ("lea@aubiers.fr", "fr", "queued"),
            ("tom@bakerwines.co.uk", "en", "queued"),
        ]
        assert "Salon Vinitech" in next(m.body for m in mails if m.language == "fr")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_badge_scanners_export_is_mapped_once_and_imported_as_leads_of_the_event(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    export = tmp_path / "badges.csv"
    export.write_text(
        "Prénom;Nom;Société;E-mail;Badge\n"
        "Inès;Morel;Traiteur Morel;ines@traiteur-morel.fr;A-1\n"
        "Hugo;Vidal;Vidal Frères;hugo@vidal-freres.fr;A-2\n"
        "Jo;Faux;Faux SA;jo@;A-3\n",
        encoding="utf-8",
    )
    app = start_app(tmp_path / "device", server_url=live_server.url)
    try:
        page, host = _signed_in(browser, app.url, "alice")
        page.close()
        page, host = _open(browser, app.url + "events")
        host.get_by_role("textbox", name="Nom de l'événement").wait_for(timeout=30_000)
        time.sleep(2)
        _keys(page, "Sirha", "<Tab>", "Lyon", "<Enter>")
        _wait_text(page.locator('[flt-semantics-identifier="lead-count"]'), "0 personne(s) rencontrée(s)")
        host.get_by_role("button", name=re.compile("Export du lecteur de badges")).click()
        with page.expect_file_chooser() as chooser:
            host.get_by_role("button", name="Choisir le fichier CSV").click()
        chooser.value.set_files(str(export))
        # The columns come with their guessed fields; the badge number goes nowhere.
        host.get_by_role("button", name="Importer les badges").click()
        _wait_text(page.locator('[flt-semantics-identifier="badge-summary"]'), "2 nouveau(x) lead(s)")
        _wait_text(page.locator('[flt-semantics-identifier="lead-count"]'), "2 personne(s) rencontrée(s)")
        _wait_text(host.get_by_text(re.compile("Synchronisé")), "Synchronisé", seconds=60)
        page.close()
    finally:
        app.stop()
    with Session(live_server.engine) as session:
        event = session.exec(select(Campaign).where(Campaign.name == "Sirha")).one()
        leads = session.exec(select(Account.name).where(Account.origin_campaign_id == event.id)).all()
        assert sorted(leads) == ["Traiteur Morel", "Vidal Frères"]
        # The export has no consent column: nobody imported from it may be e-mailed.
        consents = session.exec(select(Contact.consent_email).where(Contact.origin_campaign_id == event.id)).all()
        assert consents == [False, False]
    assert badge_mapping(app.data_dir, event.id) == {
        "Prénom": "first_name",
        "Nom": "last_name",
        "Société": "company",
        "E-mail": "email",
    }


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_manager_merges_two_reps_leads_for_one_company_from_the_app(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    reps = []
    for username in ("alice", "bruno"):
        device = SyncEngine(
            replica=open_replica(tmp_path / username), http=httpx.Client(base_url=live_server.url, timeout=60)
        )
        device.sign_in(username=username, password="demo")
        device.sync()
        reps.append(device)
    try:
        event_id = _open_event(reps[0])
        reps[1].sync()  # bruno's device gets alice's event
        first = _capture(reps[0], event_id, "Fromagerie Baud SARL", ("Anne", "Baud", "anne@fromagerie-baud.fr"))
        second = _capture(reps[1], event_id, "fromagerie baud", ("Luc", "Baud", "luc@fromagerie-baud.fr"))
        for device in reps:
            device.sync()
    finally:
        for device in reps:
            device.http.close()
            device.replica.dispose()
    app = start_app(tmp_path / "manon", server_url=live_server.url)
    try:
        page, host = _signed_in(browser, app.url, "manon")
        host.get_by_role("button", name="Doublons").click()
        _wait_text(host.get_by_role("button", name=re.compile("Fusionner dans")), "Fusionner dans")
        host.get_by_role("button", name="Fusionner dans Fromagerie Baud SARL").click()
        _wait_text(host.get_by_text(re.compile("Aucun doublon")), "Aucun doublon en attente.")
        page.close()
    finally:
        app.stop()
    with Session(live_server.engine) as session:
        assert session.get(Account, second.account_id) is None
        contacts = session.exec(
            select(Contact.last_name, Contact.first_name).where(Contact.account_id == first.account_id)
        ).all()
        assert sorted(contacts) == [("Baud", "Anne"), ("Baud", "Luc")]
        activities = session.exec(select(Activity.id).where(Activity.account_id == first.account_id)).all()
        assert {first.activity_id, second.activity_id} <= set(activities)
