"""Two reps' leads for one company, met at the same event: found at sync, offered once to their
manager, merged into one account that keeps every contact and activity of both (issue 7,
acceptance 3). Real replica files, the real API (in-process, or uvicorn for pushes at the same
moment), SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from app.edits import create_record, pending_changes, update_record
from app.lead_import import LeadDraft
from app.leads import DuplicateIndex
from app.models import Account, Activity, Contact
from server.db import DEVICE, ServerSession, queued_changes
from server.merges import ensure_duplicate_keys
from server.models import AccountKey, MergeProposal, Role, User
from server.security import hash_password
from sync.engine import SyncEngine
from tests.conftest import LiveServer, sign_in
from tests.integration.test_cli import terrain_server
from tests.integration.test_sync_push import _device, _server


@dataclass(frozen=True)
class Lead:
    account_id: str
    contact_id: str
    activity_id: str


def _open_event(device: SyncEngine, name: str = "Salon Sirha") -> str:
    """A trade fair a rep opens on arrival; every device gets it at its next sync."""
    with Session(device.replica) as session:
        event = create_record(
            session=session,
            entity="campaign",
            fields={"name": name, "channel": "trade_fair", "place": "Eurexpo Lyon", "starts_on": "2026-11-23"},
        )
        event_id = event.id
    device.sync()
    return event_id


def _capture(
    device: SyncEngine,
    event_id: str,
    company: str,
    person: tuple[str, str, str],
    *,
    at: str = "2026-11-23T10:00:00Z",
    temperature: str = "warm",
    **account_fields: Any,
) -> Lead:
    """A person met at the event, saved offline: their company as a new lead, them as its contact,
    the conversation as an activity; all naming the event."""
    first, last, email = person
    with Session(device.replica) as session:
        account = create_record(
            session=session,
            entity="account",
            fields={
                "name": company,
                "lifecycle_stage": "lead",
                "origin": "trade_fair",
                "origin_campaign_id": event_id,
                "first_touch_at": at,
                **account_fields,
            },
        )
        contact = create_record(
            session=session,
            entity="contact",
            fields={
                "account_id": account.id,
                "first_name": first,
                "last_name": last,
                "email": email,
                "origin": "trade_fair",
                "origin_campaign_id": event_id,
            },
        )
        activity = create_record(
            session=session,
            entity="activity",
            fields={
                "account_id": account.id,
                "contact_id": contact.id,
                "kind": "meeting",
                "occurred_at": at,
                "summary": f"{first} {last}: intéressé par la gamme bio",
                "campaign_id": event_id,
                "temperature": temperature,
            },
        )
        return Lead(account.id, contact.id, activity.id)


def _proposals(engine: Engine, *account_ids: str) -> list[MergeProposal]:
    """Every proposal naming one of these accounts, whatever its status."""
    with ServerSession(engine) as session:
        return list(
            session.exec(
                select(MergeProposal).where(
                    col(MergeProposal.account_id).in_(account_ids) | col(MergeProposal.duplicate_id).in_(account_ids)
                )
            ).all()
        )


def _on_device(device: SyncEngine, model: type[Account] | type[Contact] | type[Activity], *where: Any) -> set[str]:
    with Session(device.replica) as session:
        return set(session.exec(select(model.id).where(*where)).all())


def _add_manager(engine: Engine, username: str) -> None:
    """A manager of another team (no rep under them)."""
    with ServerSession(engine) as session:
        session.add(
            User(username=username, full_name=username.title(), role=Role.manager, password_hash=hash_password("demo"))
        )
        session.commit()


def test_two_reps_capturing_one_company_at_an_event_get_one_merge_that_keeps_both_contacts_and_activities(
    api: TestClient, tmp_path: Path
) -> None:
    alice, bruno = _device(api, tmp_path, "alice"), _device(api, tmp_path, "bruno")
    event = _open_event(alice)
    bruno.sync()
    first = _capture(
        alice,
        event,
        "Boulangerie Dupont SARL",
        ("Jean", "Dupont", "jean.dupont@boulangerie-dupont.fr"),
        temperature="hot",
        website="www.boulangerie-dupont.fr",
        tags=["bio"],
    )
    alice.sync()
    second = _capture(
        bruno,
        event,
        "boulangerie dupont",
        ("Marie", "Dupont", "marie@boulangerie-dupont.fr"),
        at="2026-11-23T15:30:00Z",
        phone="04 78 12 34 56",
        notes="Ouvre une deuxième boutique en mars.",
        tags=["bio", "franchise"],
    )
    bruno.sync()
    engine = _server(api)
    manon = sign_in(api, "manon")

    listed = api.get("/api/v1/merges", headers=manon)
    assert listed.status_code == 200, listed.text
    [offer] = listed.json()
    assert offer["status"] == "open" and offer["reasons"] == ["domain", "name"]
    assert offer["account"]["id"] == first.account_id  # the older lead is the one kept
    assert offer["duplicate"]["id"] == second.account_id
    for side, (name, owner) in (
        ("account", ("Boulangerie Dupont SARL", "alice")),
        ("duplicate", ("boulangerie dupont", "bruno")),
    ):
        shown = offer[side]
        assert (shown["name"], shown["owner"], shown["origin"], shown["origin_campaign_id"]) == (
            name,
            owner,
            "trade_fair",
            event,
        )
        assert (shown["contacts"], shown["activities"], shown["lifecycle_stage"]) == (1, 1, "lead")

    # Syncing again, or changing an identifier of a lead, makes no second proposal.
    alice.sync()
    bruno.sync()
    with Session(alice.replica) as session:
        update_record(
            session=session,
            entity="account",
            record_id=first.account_id,
            changes={"email": "contact@boulangerie-dupont.fr"},
        )
    alice.sync()
    assert len(_proposals(engine, first.account_id, second.account_id)) == 1

    # Meanwhile bruno, offline, writes down a call with his lead and its industry.
    with Session(bruno.replica) as session:
        late_call = create_record(
            session=session,
            entity="activity",
            fields={
                "account_id": second.account_id,
                "contact_id": second.contact_id,
                "kind": "call",
                "occurred_at": "2026-11-24T09:00:00Z",
                "summary": "Rappel: veut un devis pour 200 baguettes/jour",
            },
        ).id
        update_record(
            session=session, entity="account", record_id=second.account_id, changes={"industry": "Boulangerie"}
        )

    merged = api.post(f"/api/v1/merges/{offer['id']}", json={"action": "merge"}, headers=manon)
    assert merged.status_code == 200, merged.text
    answer = merged.json()
    assert answer["status"] == "merged" and answer["decided_by"] == "manon" and answer["duplicate"] is None
    assert answer["moved"] == {"lifecycle_stage_change": 1, "contact": 1, "activity": 1}
    assert (answer["account"]["contacts"], answer["account"]["activities"]) == (2, 2)
    assert api.post(f"/api/v1/merges/{offer['id']}", json={"action": "merge"}, headers=manon).status_code == 409
    assert api.get("/api/v1/merges", headers=manon).json() == []

    with ServerSession(engine) as session:
        assert session.get(Account, second.account_id) is None
        kept = session.get(Account, first.account_id)
        assert kept is not None
        # Empty fields filled from the other lead, notes appended, tags united, first touch kept.
        assert (kept.name, kept.website, kept.phone, kept.notes) == (
            "Boulangerie Dupont SARL",
            "www.boulangerie-dupont.fr",
            "04 78 12 34 56",
            "Ouvre une deuxième boutique en mars.",
        )
        assert kept.tags == ["bio", "franchise"] and kept.first_touch_at is not None
        assert kept.first_touch_at.isoformat() == "2026-11-23T10:00:00+00:00"
        contacts = set(session.exec(select(Contact.id).where(Contact.account_id == kept.id)).all())
        activities = set(session.exec(select(Activity.id).where(Activity.account_id == kept.id)).all())
        assert contacts == {first.contact_id, second.contact_id}
        assert activities == {first.activity_id, second.activity_id}
        assert not session.exec(select(AccountKey).where(AccountKey.account_id == second.account_id)).all()
        kept_keys = {(k.kind, k.key) for k in session.exec(select(AccountKey).where(AccountKey.account_id == kept.id))}
        assert ("email", "marie@boulangerie-dupont.fr") in kept_keys and ("phone", "+33478123456") in kept_keys

    # alice's device receives bruno's contact and activity under her account.
    alice.sync()
    assert _on_device(alice, Contact, Contact.account_id == first.account_id) == {first.contact_id, second.contact_id}
    assert _on_device(alice, Activity, Activity.account_id == first.account_id) == {
        first.activity_id,
        second.activity_id,
    }
    # bruno's late call and edit go to the kept account (nothing lost); his lead leaves his device.
    report = bruno.sync()
    assert report.pushed.rejected == 0
    with Session(bruno.replica) as session:
        assert pending_changes(session=session)["rejected"] == []
    assert _on_device(bruno, Account, Account.id == second.account_id) == set()
    assert _on_device(bruno, Contact, Contact.id == second.contact_id) == set()
    assert _on_device(bruno, Activity, col(Activity.id).in_([second.activity_id, late_call])) == set()
    with ServerSession(engine) as session:
        stored = session.get(Activity, late_call)
        assert stored is not None and stored.account_id == first.account_id
        kept = session.get(Account, first.account_id)
        assert kept is not None and kept.industry == "Boulangerie"
    alice.sync()
    assert late_call in _on_device(alice, Activity, Activity.account_id == first.account_id)
    assert len(_proposals(engine, first.account_id, second.account_id)) == 1


def test_the_manager_may_keep_the_other_account_and_the_earliest_first_touch_stays(
    api: TestClient, tmp_path: Path
) -> None:
    alice, bruno = _device(api, tmp_path, "alice"), _device(api, tmp_path, "bruno")
    event = _open_event(alice)
    bruno.sync()
    early = _capture(alice, event, "Cave Saint-Vincent", ("Luc", "Morel", "luc@cave-st-vincent.fr"))
    alice.sync()
    late = _capture(
        bruno, event, "Cave St Vincent", ("Ana", "Roy", "ana@cave-st-vincent.fr"), at="2026-11-24T16:00:00Z"
    )
    bruno.sync()
    manon = sign_in(api, "manon")
    [offer] = api.get("/api/v1/merges", headers=manon).json()
    assert offer["account"]["id"] == early.account_id
    unknown = api.post(f"/api/v1/merges/{offer['id']}", json={"action": "merge", "keep": "nope"}, headers=manon)
    assert unknown.status_code == 422 and "not one of the two accounts" in unknown.json()["detail"]
    kept = api.post(f"/api/v1/merges/{offer['id']}", json={"action": "merge", "keep": late.account_id}, headers=manon)
    assert kept.status_code == 200, kept.text
    assert kept.json()["account"]["id"] == late.account_id and kept.json()["account"]["owner"] == "bruno"
    with ServerSession(_server(api)) as session:
        assert session.get(Account, early.account_id) is None
        account = session.get(Account, late.account_id)
        assert account is not None and account.first_touch_at is not None
        assert account.first_touch_at.isoformat() == "2026-11-23T10:00:00+00:00"  # alice met them first
        proposal = session.get(MergeProposal, offer["id"])
        assert proposal is not None
        assert (proposal.account_id, proposal.duplicate_id) == (late.account_id, early.account_id)
    alice.sync()
    bruno.sync()
    assert _on_device(alice, Account, Account.id == early.account_id) == set()
    assert _on_device(bruno, Contact, Contact.account_id == late.account_id) == {early.contact_id, late.contact_id}


def test_different_companies_met_at_the_same_event_are_never_proposed(api: TestClient, tmp_path: Path) -> None:
    alice, bruno = _device(api, tmp_path, "alice"), _device(api, tmp_path, "bruno")
    event = _open_event(alice)
    bruno.sync()
    # Free-mail addresses say nothing of the company; neither do names with nothing in common.
    leads = [
        _capture(alice, event, "Garage Martin Automobiles", ("Paul", "Martin", "paul.martin@gmail.com")),
        _capture(bruno, event, "Imprimerie Nouvelle Vague", ("Léa", "Martin", "lea.martin@gmail.com")),
        _capture(bruno, event, "Imprimerie du Lac", ("Hugo", "Petit", "hugo@imprimerie-du-lac.fr")),
    ]
    alice.sync()
    bruno.sync()
    assert _proposals(_server(api), *(lead.account_id for lead in leads)) == []
    assert api.get("/api/v1/merges", headers=sign_in(api, "manon")).json() == []


def test_a_lead_whose_website_no_parser_reads_syncs_and_is_still_matched_by_its_name(
    api: TestClient, tmp_path: Path
) -> None:
    """An unclosed "[" in a website made the duplicate check raise after the push's changes: a
    500, and the device's outbox stuck behind it at every sync."""
    alice, bruno = _device(api, tmp_path, "alice"), _device(api, tmp_path, "bruno")
    event = _open_event(alice)
    bruno.sync()
    first = _capture(
        alice, event, "Fromagerie Vautrin", ("Paul", "Roche", "paul.roche@gmail.com"), website="http://[fromagerie"
    )
    assert alice.sync().pushed.rejected == 0
    with Session(alice.replica) as session:
        assert pending_changes(session=session)["pending"] == 0
        # The device's own duplicate check reads the same website without failing.
        (found,) = DuplicateIndex(session).match(LeadDraft(company="Fromagerie Vautrin SA"))
    assert (found.account_id, found.reasons) == (first.account_id, ["name"])
    second = _capture(bruno, event, "FROMAGERIE VAUTRIN", ("Léa", "Petit", "lea.petit@gmail.com"))
    assert bruno.sync().pushed.rejected == 0
    (proposal,) = _proposals(_server(api), first.account_id, second.account_id)
    assert (proposal.account_id, proposal.duplicate_id, proposal.reasons) == (
        first.account_id,
        second.account_id,
        ["name"],
    )


def test_a_lead_matching_another_reps_customer_is_proposed_once_keys_are_rebuilt(
    api: TestClient, tmp_path: Path
) -> None:
    engine = _server(api)
    with ServerSession(engine) as session:
        bruno_id = session.exec(select(User.id).where(User.username == "bruno")).one()
        customer = session.exec(
            select(Account)
            .where(Account.owner_id == bruno_id, Account.lifecycle_stage == "client")
            .order_by(col(Account.name))
        ).first()
        assert customer is not None and customer.website
    # The demo company was loaded before its accounts had keys: the command builds them.
    url = engine.url.render_as_string(hide_password=False)
    rebuilt = terrain_server("rebuild-duplicate-keys", env={"TERRAIN_DATABASE_URL": url})
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "duplicate keys rebuilt for 330 accounts" in rebuilt.stdout
    alice = _device(api, tmp_path, "alice")
    event = _open_event(alice)
    domain = customer.website.split("www.", 1)[1]
    lead = _capture(alice, event, "Société Nouvelle", ("Eva", "Blanc", f"eva.blanc@{domain}"))
    alice.sync()
    [proposal] = _proposals(engine, lead.account_id)
    assert (proposal.account_id, proposal.duplicate_id, proposal.reasons) == (
        customer.id,
        lead.account_id,
        ["domain"],
    )
    # alice sees it (it touches her lead) but only a manager decides.
    [seen] = api.get("/api/v1/merges", headers=sign_in(api, "alice")).json()
    assert (seen["account"]["owner"], seen["duplicate"]["owner"]) == ("bruno", "alice")


def test_a_database_older_than_the_keys_gets_them_at_its_first_start_only(demo_engine: Engine) -> None:
    with ServerSession(demo_engine) as session:
        assert ensure_duplicate_keys(session) == 330
        session.commit()
    with ServerSession(demo_engine) as session:
        assert ensure_duplicate_keys(session) is None
        indexed = dict(
            session.exec(
                select(AccountKey.kind, func.count(func.distinct(AccountKey.account_id))).group_by(AccountKey.kind)
            ).all()
        )
    # Every demo account has a name, a SIREN, an e-mail, a website and a phone.
    assert {kind: indexed[kind] for kind in ("name", "nametok", "siren", "email", "domain", "phone")} == dict.fromkeys(
        ("name", "nametok", "siren", "email", "domain", "phone"), 330
    )


def test_a_dismissed_proposal_is_never_made_again_and_only_managers_of_both_accounts_decide(
    api: TestClient, tmp_path: Path
) -> None:
    alice, bruno = _device(api, tmp_path, "alice"), _device(api, tmp_path, "bruno")
    event = _open_event(alice)
    bruno.sync()
    ours = _capture(alice, event, "Fromagerie des Alpes", ("Rémi", "Girard", "remi@fromagerie-alpes.fr"))
    theirs = _capture(bruno, event, "Fromagerie Les Alpes", ("Zoé", "Roux", "zoe@fromagerie-alpes.fr"))
    alice.sync()
    bruno.sync()
    engine = _server(api)
    _add_manager(engine, "oscar")
    [offer] = api.get("/api/v1/merges", headers=sign_in(api, "manon")).json()
    url = f"/api/v1/merges/{offer['id']}"

    # Reps read the proposals touching their accounts, and decide nothing.
    alice_headers = sign_in(api, "alice")
    assert [p["id"] for p in api.get("/api/v1/merges", headers=alice_headers).json()] == [offer["id"]]
    assert api.get("/api/v1/merges", headers=sign_in(api, "chloe")).json() == []
    refused = api.post(url, json={"action": "merge"}, headers=alice_headers)
    assert refused.status_code == 403 and "manager" in refused.json()["detail"]
    # A manager of another team neither sees it nor decides it.
    oscar = sign_in(api, "oscar")
    assert api.get("/api/v1/merges", headers=oscar).json() == []
    outside = api.post(url, json={"action": "dismiss"}, headers=oscar)
    assert outside.status_code == 404 and outside.json()["detail"] == "no such merge proposal in your scope"
    assert api.post(url, json={"action": "fuse"}, headers=sign_in(api, "manon")).status_code == 422

    manon = sign_in(api, "manon")
    dismissed = api.post(url, json={"action": "dismiss"}, headers=manon)
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["status"] == "dismissed" and dismissed.json()["duplicate"]["id"] == theirs.account_id
    again = api.post(url, json={"action": "merge"}, headers=manon)
    assert again.status_code == 409 and "already dismissed by manon" in again.json()["detail"]

    # New identifiers on either side, synced again: still that one dismissed proposal.
    with Session(bruno.replica) as session:
        create_record(
            session=session,
            entity="contact",
            fields={"account_id": theirs.account_id, "last_name": "Roux", "email": "remi@fromagerie-alpes.fr"},
        )
        update_record(
            session=session, entity="account", record_id=theirs.account_id, changes={"name": "Fromagerie des Alpes"}
        )
    bruno.sync()
    alice.sync()
    [only] = _proposals(engine, ours.account_id, theirs.account_id)
    assert only.status == "dismissed" and set(only.reasons) == {"domain", "name"}
    assert api.get("/api/v1/merges", headers=manon).json() == []
    assert [p["id"] for p in api.get("/api/v1/merges?status=dismissed", headers=manon).json()] == [offer["id"]]


def test_a_lead_pushed_while_another_push_of_the_same_company_commits_is_proposed_once(
    live_server: LiveServer, live_devices: Callable[..., SyncEngine]
) -> None:
    alice, bruno = live_devices("alice"), live_devices("bruno")
    event = _open_event(alice)
    bruno.sync()
    companies = {
        "Torréfaction Dubreuil": "torrefaction-dubreuil.fr",
        "Chocolaterie Mireille": "chocolaterie-mireille.fr",
        "Conserverie Kervella": "kervella.bzh",
    }
    pairs: list[tuple[str, str]] = []
    for company, domain in companies.items():
        made = [
            _capture(device, event, company, (name, "Durand", f"{name.lower()}@{domain}"))
            for device, name in ((alice, "Lina"), (bruno, "Noah"))
        ]
        pairs.append((made[0].account_id, made[1].account_id))
    # alice's push is held for a moment once it has checked its leads, just before it commits;
    # bruno's push of the same companies arrives meanwhile on another server thread. It must find
    # alice's leads all the same (it waits for her commit), not check against what it cannot see.
    alice_device, held = alice.state()["device_id"], threading.Event()

    def hold_alices_push(session: Session) -> None:
        pushing = any(c.entity == "account" for c in queued_changes(session))  # the captures' commit
        outer = not session.in_nested_transaction()  # not a mutation's savepoint
        if session.info.get(DEVICE) == alice_device and pushing and outer and not held.is_set():
            held.set()
            time.sleep(1.5)

    errors: list[BaseException] = []

    def sync_alice() -> None:
        try:
            alice.sync()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    sa_event.listen(ServerSession, "before_commit", hold_alices_push, insert=True)  # before the change log is written
    try:
        thread = threading.Thread(target=sync_alice)
        thread.start()
        assert held.wait(60)
        bruno.sync()
        thread.join(60)
    finally:
        sa_event.remove(ServerSession, "before_commit", hold_alices_push)
    assert not errors
    for pair in pairs:
        found = _proposals(live_server.engine, *pair)
        assert [(p.account_id, p.duplicate_id) for p in found] == [pair]
