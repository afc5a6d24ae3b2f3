"""A person's rights (issue 8, GDPR): everything the CRM holds about a contact exported as JSON,
and the person erased from the server and, at their next sync, from every device, while the
account's own records stay without them. Runs on SQLite and PostgreSQL, with real devices synced
over HTTP (in-process, and through uvicorn on 127.0.0.1 for the erasure)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.edits import create_record
from app.followup import event_drafts, send_drafts
from app.ids import new_id
from app.models import (
    Account,
    Activity,
    CampaignResponse,
    Contact,
    EmailMessage,
    Quote,
    Reminder,
    SurveyResponse,
    Ticket,
    Visit,
)
from server.db import ServerSession
from server.gdpr import ERASURE_DETAIL
from server.mailer import send_due_mail
from server.models import AccountKey, AuditEvent, ChangeLog, FieldChange, ProcessedMutation, Role, User
from server.security import hash_password
from sync.engine import SyncEngine
from tests.conftest import LiveServer, free_port, sign_in
from tests.integration.test_followup_mail import Inbox, SmtpServer, _mail_settings

MET = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
FIRST, LAST = "Zélie", "Quinquempoix"
EMAIL = "zelie.quinquempoix@exemple-rgpd.fr"
MOBILE = "+33698765432"
#: What must not be left anywhere once she is erased (compared without case).
HER_DATA = ("quinquempoix", EMAIL, "698765432")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(port=free_port(), inbox=Inbox())
    yield server
    server.stop()


@dataclass
class Zelie:
    """A buyer met at a trade fair, and what the CRM holds about her."""

    contact_id: str
    account_id: str
    event_id: str
    call_id: str  # a call with her: the account's, kept without her
    visit_id: str  # a visit planned with her, and where the rep met her
    reminder_id: str  # "call Zélie back": only about her
    ticket_id: str  # her complaint: the account's, kept without her
    quote_id: str = ""  # a quote made out to her, on the server
    survey_id: str = ""  # her NPS answer, on the server


def _meet_zelie(device: SyncEngine) -> Zelie:
    """On the rep's device: an event, Zélie met there (she agreed to e-mails) at one of the rep's
    customers, a call, a visit, a reminder, a complaint, and her follow-up e-mail; synced."""
    user_id = device.state()["user_id"]
    with Session(device.replica) as session:
        account_id = session.exec(select(Account.id).order_by(col(Account.name))).first()
        assert account_id is not None
        event = create_record(
            session=session,
            entity="campaign",
            fields={"name": "Salon Sirha", "channel": "trade_fair", "place": "Eurexpo Lyon", "starts_on": "2026-11-23"},
        ).id
        contact = create_record(
            session=session,
            entity="contact",
            fields={
                "account_id": account_id,
                "first_name": FIRST,
                "last_name": LAST,
                "role": "Acheteuse",
                "email": EMAIL,
                "mobile": MOBILE,
                "consent_email": True,
                "origin": "trade_fair",
                "origin_campaign_id": event,
            },
        ).id
        call = create_record(
            session=session,
            entity="activity",
            fields={
                "account_id": account_id,
                "contact_id": contact,
                "kind": "call",
                "direction": "out",
                "occurred_at": MET,
                "subject": "Appel",
                "summary": "Devis demandé pour 40 palettes",
            },
            author_id=user_id,
        ).id
        visit = create_record(
            session=session,
            entity="visit",
            fields={
                "account_id": account_id,
                "contact_id": contact,
                "starts_at": MET + timedelta(days=7),
                "ends_at": MET + timedelta(days=7, hours=1),
                "purpose": "Présentation de la gamme",
            },
        ).id
        reminder = create_record(
            session=session,
            entity="reminder",
            fields={
                "account_id": account_id,
                "contact_id": contact,
                "due_at": MET + timedelta(days=1),
                "reason": f"Rappeler {FIRST} {LAST}",
            },
            author_id=user_id,
        ).id
        ticket = create_record(
            session=session,
            entity="ticket",
            fields={"account_id": account_id, "contact_id": contact, "subject": "Palette abîmée", "opened_at": MET},
        ).id
        (draft,) = event_drafts(session, event, "Alice Perrin")
        assert draft.contact_id == contact and draft.held_back is None
        assert send_drafts(session, [draft], author_id=user_id) == 1
    device.sync()
    return Zelie(contact, account_id, event, call, visit, reminder, ticket)


def _on_the_server(engine: Engine, smtp: SmtpServer, tmp_path: Path, zelie: Zelie) -> None:
    """On the server: her follow-up sent (an activity and the event's response), a quote made
    out to her, her NPS answer, and the visit's report naming her as the person met."""
    smtp.start()
    run = send_due_mail(engine=engine, settings=_mail_settings(tmp_path, smtp))
    assert (run.sent, run.failed) == (1, 0)
    with ServerSession(engine) as session:
        quote = Quote(account_id=zelie.account_id, contact_id=zelie.contact_id, provisional_number="P-RGPD-1")
        survey = SurveyResponse(
            account_id=zelie.account_id,
            contact_id=zelie.contact_id,
            campaign_id=zelie.event_id,
            kind="nps",
            score=9,
            comment="Très bon accueil",
            answered_at=MET,
        )
        visit = session.get(Visit, zelie.visit_id)
        assert visit is not None
        visit.met_contact_id, visit.report_notes = zelie.contact_id, "Gamme présentée"
        session.add_all([quote, survey, visit])
        session.commit()
        zelie.quote_id, zelie.survey_id = quote.id, survey.id


def _holding(engine: Engine, *texts: str) -> dict[str, int]:
    """Every `table.column` of the database (server or replica, every table) with rows holding
    one of these texts, whatever the case, and how many."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for column in table.c:
                if not isinstance(column.type, sa.String | sa.JSON):
                    continue
                value = sa.func.lower(sa.cast(column, sa.Text))
                holds = sa.or_(*(value.contains(text.lower(), autoescape=True) for text in texts))
                count = conn.execute(sa.select(sa.func.count()).select_from(table).where(holds)).scalar_one()
                if count:
                    found[f"{table.name}.{column.name}"] = count
    return found


def _user_id(engine: Engine, username: str) -> str:
    with Session(engine) as session:
        return session.exec(select(User.id).where(User.username == username)).one()


def _add_manager(engine: Engine, username: str) -> None:
    """A manager of another team (no rep under them)."""
    with ServerSession(engine) as session:
        session.add(
            User(username=username, full_name=username.title(), role=Role.manager, password_hash=hash_password("demo"))
        )
        session.commit()


def _server(api: TestClient) -> Engine:
    return api.app.state.engine  # type: ignore[attr-defined,no-any-return]


def test_the_export_holds_the_person_every_record_naming_them_and_their_audit_and_is_logged(
    api: TestClient, alice: SyncEngine, smtp: SmtpServer, tmp_path: Path
) -> None:
    zelie = _meet_zelie(alice)
    engine = _server(api)
    _on_the_server(engine, smtp, tmp_path, zelie)
    response = api.get(f"/api/v1/contacts/{zelie.contact_id}/export", headers=sign_in(api, "alice"))
    assert response.status_code == 200, response.text
    export: dict[str, Any] = response.json()
    assert export["contact"]["id"] == zelie.contact_id
    assert (export["contact"]["email"], export["contact"]["mobile"]) == (EMAIL, MOBILE)
    assert export["contact"]["consent_email"] is True
    with Session(engine) as session:
        account = session.get(Account, zelie.account_id)
        assert account is not None
        (email,) = session.exec(select(EmailMessage).where(EmailMessage.contact_id == zelie.contact_id)).all()
        email_activity = session.exec(select(Activity.id).where(Activity.email_id == email.id)).one()
    assert (export["account_id"], export["account_name"]) == (zelie.account_id, account.name)
    records = export["records"]

    def ids(entity: str) -> set[str]:
        return {r["id"] for r in records[entity]}

    assert ids("activity") == {zelie.call_id, email_activity}
    assert ids("visit") == {zelie.visit_id}  # named twice (planned with her, met her): listed once
    assert ids("email_message") == {email.id}
    assert records["email_message"][0]["status"] == "sent" and EMAIL == records["email_message"][0]["to_address"]
    assert ids("reminder") == {zelie.reminder_id} and ids("ticket") == {zelie.ticket_id}
    assert ids("quote") == {zelie.quote_id} and ids("survey_response") == {zelie.survey_id}
    assert [r["response"] for r in records["campaign_response"]] == ["email_sent"]
    assert records["order"] == []
    # The audit: she and her records were created by alice's device.
    alice_id = _user_id(engine, "alice")
    events = {(e["action"], e["entity"], e["row_id"]) for e in export["audit_events"] if e["user_id"] == alice_id}
    assert {("change", "contact", zelie.contact_id), ("change", "visit", zelie.visit_id)} <= events
    # The export itself is logged, and the next export shows it.
    with Session(engine) as session:
        logged = session.exec(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [(e.user_id, e.entity, e.row_id, e.account_id) for e in logged] == [
        (alice_id, "contact", zelie.contact_id, zelie.account_id)
    ]
    again = api.get(f"/api/v1/contacts/{zelie.contact_id}/export", headers=sign_in(api, "manon")).json()
    assert [e["user_id"] for e in again["audit_events"] if e["action"] == "export"] == [alice_id]


def test_only_the_accounts_rep_and_managers_over_it_reach_a_person_and_only_those_managers_erase(
    api: TestClient, alice: SyncEngine
) -> None:
    with Session(alice.replica) as session:
        account_id = session.exec(select(Account.id).order_by(col(Account.name))).first()
        contact_id = create_record(
            session=session,
            entity="contact",
            fields={"account_id": account_id, "first_name": FIRST, "last_name": LAST, "email": EMAIL},
        ).id
    alice.sync()
    engine = _server(api)
    _add_manager(engine, "olga")  # a manager of another team
    export, erase = f"/api/v1/contacts/{contact_id}/export", f"/api/v1/contacts/{contact_id}"
    who = {name: sign_in(api, name) for name in ("alice", "bruno", "olga", "manon")}
    assert api.get(export, headers=who["alice"]).status_code == 200  # the rep who owns the account
    assert api.get(export, headers=who["manon"]).status_code == 200  # her manager
    for name in ("bruno", "olga"):  # another rep; a manager of another team
        answer = api.get(export, headers=who[name])
        assert answer.status_code == 404
        assert answer.json() == {"detail": "no such contact in your scope", "code": None}
    assert api.get(export).status_code == 401
    for name in ("alice", "bruno"):  # a rep never erases, even on their own account
        assert api.delete(erase, headers=who[name]).status_code == 403
    assert api.delete(erase, headers=who["olga"]).json() == {"detail": "no such contact in your scope", "code": None}
    assert api.delete(erase).status_code == 401
    assert api.delete(f"/api/v1/contacts/{new_id()}", headers=who["manon"]).status_code == 404
    with Session(engine) as session:
        assert session.get(Contact, contact_id) is not None
        refused = session.exec(select(AuditEvent).where(AuditEvent.row_id == contact_id)).all()
    # Exports refused leave no trace of an export; the two made are logged.
    assert sorted(e.user_id or "" for e in refused if e.action == "export") == sorted(
        [_user_id(engine, "alice"), _user_id(engine, "manon")]
    )
    assert not [e for e in refused if e.action == "delete"]


def _push_as(client: httpx.Client, device: SyncEngine, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
    """Push these mutations with the device's token, bypassing its own checks; the results."""
    body = {"client_id": device.state()["device_id"], "schema_version": 1, "mutations": list(mutations)}
    response = client.post("/api/v1/sync/push", json=body, headers={"Authorization": f"Bearer {device._access_token}"})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def test_an_erased_person_leaves_the_server_and_every_device_at_its_next_sync_and_the_account_keeps_its_records(
    live_server: LiveServer, live_devices: Callable[..., SyncEngine], smtp: SmtpServer, tmp_path: Path
) -> None:
    engine = live_server.engine
    alice, managers_device = live_devices("alice"), live_devices("manon")
    zelie = _meet_zelie(alice)
    _on_the_server(engine, smtp, tmp_path, zelie)
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        manon = sign_in(http, "manon")
        # Her manager corrected her role (the server remembers which fields changed, and when)...
        changed = http.patch(f"/api/v1/contacts/{zelie.contact_id}", json={"role": "Directrice achats"}, headers=manon)
        assert changed.status_code == 200, changed.text
        # ... and a device's refused e-mail to her address under a colleague's name is remembered
        # with its reason, which quotes her address.
        with Session(alice.replica) as session:
            colleague = create_record(
                session=session,
                entity="contact",
                fields={"account_id": zelie.account_id, "last_name": "Collègue", "email": "collegue@exemple-rgpd.fr"},
            ).id
        alice.sync()
        (refused,) = _push_as(
            http,
            managers_device,
            {
                "mid": 9_001,
                "entity": "email_message",
                "id": new_id(),
                "op": "create",
                "fields": {
                    "account_id": zelie.account_id,
                    "contact_id": colleague,
                    "to_address": EMAIL,
                    "language": "fr",
                    "subject": "Offre",
                    "body": "Bonjour",
                },
            },
        )
        assert refused["status"] == "rejected" and EMAIL in refused["reason"]
        for device in (alice, managers_device):
            device.sync()
            assert _holding(device.replica, *HER_DATA)  # she is on both devices
        with Session(engine) as session:
            email_ids = session.exec(select(EmailMessage.id).where(EmailMessage.contact_id == zelie.contact_id)).all()
            assert len(email_ids) == 1
            assert session.exec(select(FieldChange).where(FieldChange.row_id == zelie.contact_id)).all()
            assert session.exec(select(AccountKey).where(AccountKey.key == EMAIL)).all()

        erased = http.delete(f"/api/v1/contacts/{zelie.contact_id}", headers=manon)
        assert (erased.status_code, erased.content) == (204, b"")
        assert http.delete(f"/api/v1/contacts/{zelie.contact_id}", headers=manon).status_code == 404
        assert http.get(f"/api/v1/contacts/{zelie.contact_id}/export", headers=manon).status_code == 404

    # On the server: nothing of hers in any table, the e-mail, the responses and the reminder about
    # her are gone; her id is left only in the change log's tombstone and in the audit log.
    assert _holding(engine, *HER_DATA) == {}
    assert set(_holding(engine, zelie.contact_id)) == {"change_log.row_id", "audit_event.row_id"}
    with ServerSession(engine) as session:
        (latest,) = session.exec(
            select(ChangeLog.op)
            .where(ChangeLog.row_id == zelie.contact_id)
            .order_by(col(ChangeLog.seq).desc())
            .limit(1)
        ).all()
        assert latest == "delete"
        assert session.get(Contact, zelie.contact_id) is None
        assert session.exec(select(EmailMessage).where(col(EmailMessage.id).in_(email_ids))).all() == []
        assert session.exec(select(Activity).where(col(Activity.email_id).in_(email_ids))).all() == []
        assert session.get(Reminder, zelie.reminder_id) is None
        assert session.get(SurveyResponse, zelie.survey_id) is None
        assert session.exec(select(CampaignResponse).where(CampaignResponse.campaign_id == zelie.event_id)).all() == []
        # The account's records stay, without her.
        call, visit = session.get(Activity, zelie.call_id), session.get(Visit, zelie.visit_id)
        ticket, quote = session.get(Ticket, zelie.ticket_id), session.get(Quote, zelie.quote_id)
        assert call is not None and visit is not None and ticket is not None and quote is not None
        assert (call.contact_id, call.summary) == (None, "Devis demandé pour 40 palettes")
        assert (visit.contact_id, visit.met_contact_id, visit.report_notes) == (None, None, "Gamme présentée")
        assert (ticket.contact_id, quote.contact_id) == (None, None)
        assert session.get(Contact, colleague) is not None  # her colleague stays
        # The audit keeps the act, by whom, and why: never who she was.
        (deleted,) = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "delete", AuditEvent.entity == "contact", AuditEvent.row_id == zelie.contact_id
            )
        ).all()
        assert (deleted.user_id, deleted.account_id, deleted.detail) == (
            _user_id(engine, "manon"),
            zelie.account_id,
            ERASURE_DETAIL,
        )
        answers = session.exec(select(ProcessedMutation.reason).where(ProcessedMutation.mid == 9_001)).all()
        assert answers == ["(personal data erased)"]

    # Each device, synced before, drops her at its next sync; the account's records stay there too.
    for device in (alice, managers_device):
        device.sync()
        assert _holding(device.replica, *HER_DATA) == {}
        assert _holding(device.replica, zelie.contact_id) == {}
        with Session(device.replica) as session:
            call = session.get(Activity, zelie.call_id)
            visit = session.get(Visit, zelie.visit_id)
            assert call is not None and call.contact_id is None
            assert visit is not None and (visit.contact_id, visit.met_contact_id) == (None, None)
            assert session.get(Contact, colleague) is not None
