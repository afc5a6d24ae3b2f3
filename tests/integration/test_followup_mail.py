"""Follow-up e-mails after an event (issue 7, acceptance 4): drafted on alice's device for two
leads met at a trade fair, one French and one English, queued offline and pushed; the server
sends them to a real SMTP server (aiosmtpd on 127.0.0.1). With the SMTP server down nothing is
lost and sending resumes after the back-off; each e-mail sent becomes an activity on the lead and
the event's response, which the device pulls. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as MailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from app.edits import create_record, pending_changes
from app.followup import event_drafts, send_drafts
from app.ids import new_id, utcnow
from app.models import Activity, CampaignResponse, Contact, EmailMessage, Product
from app.replica import open_replica
from server import mailer
from server.db import ServerSession
from server.mailer import send_due_mail
from server.models import User
from server.settings import ServerSettings
from sync.engine import SyncEngine
from tests.conftest import free_port, settings_for, sign_in, start_live_server
from tests.integration.conftest import push_mutations

MET = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
#: Refused for good by the SMTP server below, and put off for now.
UNKNOWN, BUSY = "nobody@oak.co.uk", "busy@oak.co.uk"


@dataclass
class Inbox:
    """An SMTP server's handler: keeps every message it accepts; refuses UNKNOWN, puts BUSY off."""

    messages: list[tuple[list[str], MailMessage]] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802  (aiosmtpd's hook name)
        self, _server: SMTP, _session: SmtpSession, envelope: Envelope, address: str, _options: list[str]
    ) -> str:
        if address == UNKNOWN:
            return "550 5.1.1 No such user here"
        if address == BUSY:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, _server: SMTP, _session: SmtpSession, envelope: Envelope
    ) -> str:
        # Lines end with CRLF on the wire; the test compares texts with plain newlines.
        raw = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, MailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def by_recipient(self) -> dict[str, MailMessage]:
        return {to[0]: message for to, message in self.messages}


@dataclass
class SmtpServer:
    """A port for an SMTP server that the test starts when it wants it up (nothing listens before)."""

    port: int
    inbox: Inbox
    controller: Controller | None = None
    #: Whether it takes addresses with accents before the @ (SMTPUTF8), as most servers do.
    smtputf8: bool = True

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=self.smtputf8)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(port=free_port(), inbox=Inbox())
    yield server
    server.stop()


def _mail_settings(tmp_path: Path, smtp: SmtpServer) -> ServerSettings:
    return settings_for(tmp_path).model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "mail_from": "crm@terrain.test",
            "smtp_timeout_seconds": 5,
        }
    )


def _server(api: TestClient) -> Engine:
    return api.app.state.engine  # type: ignore[attr-defined,no-any-return]


def _meet_leads(device: SyncEngine, people: list[tuple[str, str, str, str | None]]) -> tuple[str, list[str]]:
    """Open an event on the device and note a lead per (company, country, e-mail, language),
    each asking about two products with a next step; queue a follow-up to each. Offline: nothing
    is pushed here. The event's id and the e-mails' ids."""
    state = device.state()
    with Session(device.replica) as session:
        products = session.exec(select(Product.id).where(Product.active).order_by(col(Product.sku)).limit(2)).all()
        fair = create_record(
            session=session, entity="campaign", fields={"name": "Batimat 2026", "place": "Paris Expo"}
        ).id
        for company, country, address, language in people:
            account = create_record(
                session=session,
                entity="account",
                fields={
                    "name": company,
                    "billing_country": country,
                    "origin": "trade_fair",
                    "origin_campaign_id": fair,
                },
            ).id
            contact = create_record(
                session=session,
                entity="contact",
                fields={
                    "account_id": account,
                    "first_name": "Sam",
                    "last_name": company.split()[0],
                    "email": address,
                    "language": language,
                    "origin": "trade_fair",
                    "origin_campaign_id": fair,
                    "consent_email": True,  # they asked to be followed up
                },
            ).id
            create_record(
                session=session,
                entity="activity",
                fields={
                    "account_id": account,
                    "contact_id": contact,
                    "kind": "meeting",
                    "occurred_at": MET,
                    "campaign_id": fair,
                    "temperature": "hot",
                    "product_ids": list(products),
                    "next_step": "Devis avant vendredi" if language != "en" else "Quote by Friday",
                },
                author_id=state["user_id"],
            )
        drafts = event_drafts(session, fair, state["full_name"] or "")
        assert len(drafts) == len(people)
        assert send_drafts(session, drafts, author_id=state["user_id"]) == len(people)
        ids = list(session.exec(select(EmailMessage.id).order_by(col(EmailMessage.to_address))).all())
    return fair, ids


def _push(device: SyncEngine) -> None:
    device.sync()
    with Session(device.replica) as session:
        left = pending_changes(session=session)
    assert (left["pending"], left["rejected"]) == (0, []), left


def _emails(engine: Engine) -> dict[str, EmailMessage]:
    with Session(engine) as session:
        return {e.to_address: e for e in session.exec(select(EmailMessage)).all()}


LEADS = [
    ("Menuiserie Roux", "FR", "anne@roux.fr", None),  # French from the customer's country
    ("Oak & Sons", "FR", "john@oak.co.uk", "en"),  # a British buyer at a French company: his own
]


def test_follow_ups_wait_while_the_smtp_server_is_down_then_leave_in_each_leads_language(
    api: TestClient, alice: SyncEngine, smtp: SmtpServer, tmp_path: Path
) -> None:
    fair, ids = _meet_leads(alice, LEADS)
    _push(alice)
    server = _server(api)
    mail = _mail_settings(tmp_path, smtp)
    assert {e.status for e in _emails(server).values()} == {"queued"}

    # Nothing listens on the SMTP port: both stay queued, with the attempt and why it failed.
    down = send_due_mail(engine=server, settings=mail)
    assert (down.sent, down.waiting, down.failed) == (0, 2, 0)
    assert down.problem == f"cannot reach the SMTP server at 127.0.0.1:{smtp.port}: Connection refused"
    waiting = _emails(server)
    assert {(e.status, e.attempts, e.last_error) for e in waiting.values()} == {("queued", 1, down.problem)}
    # Within the back-off (2 minutes after a first failure), nothing is tried again.
    early = send_due_mail(engine=server, settings=mail, now=utcnow() + timedelta(minutes=1))
    assert (early.sent, early.waiting, early.problem) == (0, 2, None)
    assert {e.attempts for e in _emails(server).values()} == {1}
    assert smtp.inbox.messages == []

    smtp.start()
    later = utcnow() + timedelta(minutes=3)
    up = send_due_mail(engine=server, settings=mail, now=later)
    assert (up.sent, up.waiting, up.failed, up.problem) == (2, 0, 0, None)

    received = smtp.inbox.by_recipient()
    assert [to for to, _m in smtp.inbox.messages] in (
        [["anne@roux.fr"], ["john@oak.co.uk"]],
        [["john@oak.co.uk"], ["anne@roux.fr"]],
    )
    french, english = received["anne@roux.fr"], received["john@oak.co.uk"]
    assert (french["To"], french["Content-Language"]) == ("anne@roux.fr", "fr")
    assert french["Subject"] == "Suite à notre rencontre sur Batimat 2026"
    french_body = french.get_content()
    assert french_body.startswith(
        "Bonjour Sam Menuiserie,\n\nMerci pour votre visite sur notre stand lors de Batimat 2026 (Paris Expo)"
    )
    assert "Comme convenu, voici les produits dont nous avons parlé :\n- " in french_body
    assert "Prochaine étape : Devis avant vendredi" in french_body
    assert french_body.endswith("Bien cordialement,\nAlice Perrin\n")
    assert (english["To"], english["Content-Language"]) == ("john@oak.co.uk", "en")
    assert english["Subject"] == "Following up on our meeting at Batimat 2026"
    english_body = english.get_content()
    assert english_body.startswith("Dear Sam Oak,\n\nThank you for visiting our stand at Batimat 2026 (Paris Expo)")
    assert "Next step: Quote by Friday" in english_body and english_body.endswith("Kind regards,\nAlice Perrin\n")
    for message in (french, english):
        assert message["From"].addresses[0].display_name == "Alice Perrin"
        assert message["From"].addresses[0].addr_spec == "crm@terrain.test"
        assert str(message["Reply-To"]) == "Alice Perrin <alice.perrin@vautrin-distribution.fr>"
    assert {m["Message-ID"] for m in received.values()} == {f"<{i}@terrain.test>" for i in ids}

    # On the server: sent, each an activity on its lead and a response to the event.
    sent = _emails(server)
    with Session(server) as session:
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        for e in sent.values():
            assert (e.status, e.sent_at, e.attempts, e.last_error) == ("sent", later, 2, None)
            (activity,) = session.exec(select(Activity).where(Activity.email_id == e.id)).all()
            assert (activity.kind, activity.direction, activity.account_id, activity.contact_id) == (
                "email",
                "out",
                e.account_id,
                e.contact_id,
            )
            assert (activity.campaign_id, activity.author_id, activity.occurred_at) == (fair, alice_id, later)
            assert (activity.subject, activity.summary) == (e.subject, e.body)
        responses = session.exec(select(CampaignResponse).where(CampaignResponse.campaign_id == fair)).all()
    assert sorted((r.contact_id, r.response) for r in responses) == sorted(
        (e.contact_id, "email_sent") for e in sent.values()
    )
    # Sent once: another round finds nothing due.
    assert send_due_mail(engine=server, settings=mail, now=later + timedelta(hours=2)).sent == 0
    assert len(smtp.inbox.messages) == 2

    # The device pulls the new status and the activities.
    alice.sync()
    with Session(alice.replica) as session:
        on_device = session.exec(select(EmailMessage)).all()
        assert {(e.status, e.sent_at) for e in on_device} == {("sent", later)}
        activities = session.exec(select(Activity).where(col(Activity.email_id).in_(ids))).all()
        assert sorted(a.email_id or "" for a in activities) == sorted(ids)
        assert {a.kind for a in activities} == {"email"}


def test_a_refused_recipient_fails_with_the_reason_a_busy_one_waits_and_the_others_leave(
    api: TestClient, alice: SyncEngine, smtp: SmtpServer, tmp_path: Path
) -> None:
    _meet_leads(
        alice,
        [
            ("Menuiserie Roux", "FR", "anne@roux.fr", "fr"),
            ("Nobody Ltd", "GB", UNKNOWN, None),
            ("Busy Ltd", "GB", BUSY, None),
        ],
    )
    _push(alice)
    smtp.start()
    server = _server(api)
    run = send_due_mail(engine=server, settings=_mail_settings(tmp_path, smtp))
    assert (run.sent, run.waiting, run.failed, run.problem) == (1, 1, 1, None)
    emails = _emails(server)
    assert (emails[UNKNOWN].status, emails[UNKNOWN].last_error) == (
        "failed",
        f"the recipient {UNKNOWN} was refused: 550 5.1.1 No such user here",
    )
    assert (emails[BUSY].status, emails[BUSY].attempts, emails[BUSY].last_error) == (
        "queued",
        1,
        f"the recipient {BUSY} was put off for now: 451 4.3.0 Mailbox busy, try again later",
    )
    assert emails["anne@roux.fr"].status == "sent"
    assert [to for to, _m in smtp.inbox.messages] == [["anne@roux.fr"]]
    with Session(server) as session:
        assert session.exec(
            select(Activity.email_id).where(Activity.kind == "email", col(Activity.email_id).is_not(None))
        ).all() == [emails["anne@roux.fr"].id]
    # The device shows why it did not go.
    alice.sync()
    with Session(alice.replica) as session:
        failed = session.exec(select(EmailMessage).where(EmailMessage.to_address == UNKNOWN)).one()
    assert failed.status == "failed" and "No such user here" in (failed.last_error or "")


def test_an_address_the_smtp_server_cannot_take_fails_alone_and_the_others_leave(
    api: TestClient, alice: SyncEngine, smtp: SmtpServer, tmp_path: Path
) -> None:
    """A server without SMTPUTF8: an accent before the @ stopped every round ("cannot reach the
    SMTP server") and the e-mail was never sent nor failed; an accented domain goes in ASCII."""
    _meet_leads(
        alice,
        [
            ("Ébénisterie Hélène", "FR", "hélène@ebenisterie.fr", "fr"),
            ("Menuiserie Roux", "FR", "anne@roux.fr", "fr"),
            ("Société Bois", "FR", "paul@société-bois.fr", "fr"),
        ],
    )
    _push(alice)
    smtp.smtputf8 = False
    smtp.start()
    server = _server(api)
    run = send_due_mail(engine=server, settings=_mail_settings(tmp_path, smtp))
    assert (run.sent, run.waiting, run.failed, run.problem) == (2, 0, 1, None)
    emails = _emails(server)
    accented = emails["hélène@ebenisterie.fr"]
    assert accented.status == "failed"
    assert (accented.last_error or "").startswith(
        f"the SMTP server at 127.0.0.1:{smtp.port} cannot send to hélène@ebenisterie.fr: "
    )
    assert {emails[a].status for a in ("anne@roux.fr", "paul@société-bois.fr")} == {"sent"}
    assert sorted(to[0] for to, _m in smtp.inbox.messages) == ["anne@roux.fr", "paul@xn--socit-bois-e7ab.fr"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_server_mails_only_the_customers_own_addresses(api: TestClient, alice: SyncEngine) -> None:
    """The SMTP settings are the company's: a device naming any address (a changed app, a
    stolen token) must not make the server send to it."""
    _meet_leads(alice, [("Menuiserie Roux", "FR", "Anne.Roux@Roux.fr", "fr")])
    _push(alice)  # the drafted follow-up, to the person's address (whatever its case), went in
    with Session(alice.replica) as session:
        contact = session.exec(select(Contact).where(Contact.email == "Anne.Roux@Roux.fr")).one()
    letter = {"account_id": contact.account_id, "language": "fr", "subject": "Offre", "body": "Bonjour"}

    def mail(mid: int, **fields: str | None) -> dict[str, Any]:
        return {"mid": mid, "entity": "email_message", "id": new_id(), "op": "create", "fields": letter | fields}

    results = push_mutations(
        api,
        alice,
        mail(9_001, contact_id=contact.id, to_address="someone@elsewhere.example"),
        mail(9_002, to_address="someone@elsewhere.example"),
        mail(9_003, to_address="anne.roux@roux.fr"),  # one of the customer's people
    )
    assert [r["status"] for r in results] == ["rejected", "rejected", "applied"]
    assert results[0]["reason"] == (
        "to_address: someone@elsewhere.example is not this person's e-mail address:"
        " write the address on the customer's record first"
    )
    assert "is not one of this customer's e-mail address" in results[1]["reason"]
    assert set(_emails(_server(api))) == {"Anne.Roux@roux.fr", "anne.roux@roux.fr"}


def test_an_e_mail_to_someone_without_e_mail_consent_fails_with_why_and_the_others_leave(
    api: TestClient, alice: SyncEngine, smtp: SmtpServer, tmp_path: Path
) -> None:
    """The server reads the person's consent when it sends: one withdrawn after the e-mail was
    queued, or e-mails a device pushed past its own checks (to the person by name, or to their
    address only), fail with the reason and never reach the SMTP server; the others leave."""
    _meet_leads(alice, LEADS)
    with Session(alice.replica) as session:
        anne = session.exec(select(Contact).where(Contact.email == "anne@roux.fr")).one()
        roux = anne.account_id
        paul = create_record(
            session=session,
            entity="contact",
            fields={"account_id": roux, "first_name": "Paul", "last_name": "Roux", "email": "paul@roux.fr"},
        ).id
        anne_id = anne.id
    _push(alice)
    server = _server(api)
    manon = sign_in(api, "manon")
    withdrawn = api.patch(f"/api/v1/contacts/{anne_id}", json={"consent_email": False}, headers=manon)
    assert withdrawn.status_code == 200, withdrawn.text
    letter = {"account_id": roux, "language": "fr", "subject": "Offre", "body": "Bonjour Paul"}
    results = push_mutations(
        api,
        alice,
        *(
            {"mid": mid, "entity": "email_message", "id": new_id(), "op": "create", "fields": letter | fields}
            for mid, fields in (
                (9_001, {"contact_id": paul, "to_address": "paul@roux.fr"}),
                (9_002, {"to_address": "PAUL@roux.fr"}),
            )
        ),
    )
    assert [r["status"] for r in results] == ["applied", "applied"]
    smtp.start()
    run = send_due_mail(engine=server, settings=_mail_settings(tmp_path, smtp))
    assert (run.sent, run.waiting, run.failed, run.problem) == (1, 0, 3, None)
    assert [to for to, _m in smtp.inbox.messages] == [["john@oak.co.uk"]]
    with Session(server) as session:
        emails = session.exec(select(EmailMessage)).all()
        refused = [e for e in emails if e.to_address != "john@oak.co.uk"]
        assert sorted(e.to_address for e in refused) == ["PAUL@roux.fr", "anne@roux.fr", "paul@roux.fr"]
        assert {(e.status, e.sent_at, e.last_error) for e in refused} == {("failed", None, mailer.NO_CONSENT)}
        # Nothing records them as sent: no activity, no campaign response.
        assert session.exec(select(Activity.email_id).where(col(Activity.email_id).is_not(None))).all() == [
            next(e.id for e in emails if e.to_address == "john@oak.co.uk")
        ]
        assert session.exec(
            select(CampaignResponse.contact_id).where(CampaignResponse.response == "email_sent")
        ).all() == [next(e.contact_id for e in emails if e.to_address == "john@oak.co.uk")]
    # The rep's device shows why Anne's did not go.
    alice.sync()
    with Session(alice.replica) as session:
        shown = session.exec(select(EmailMessage).where(EmailMessage.to_address == "anne@roux.fr")).one()
    assert (shown.status, shown.last_error) == ("failed", mailer.NO_CONSENT)


def test_a_sender_address_no_header_takes_holds_every_e_mail_back_and_fails_none(
    api: TestClient, alice: SyncEngine, smtp: SmtpServer, tmp_path: Path
) -> None:
    """A TERRAIN_MAIL_FROM without a domain failed every queued e-mail for good, one by one."""
    _meet_leads(alice, LEADS)
    _push(alice)
    smtp.start()
    server = _server(api)
    wrong = _mail_settings(tmp_path, smtp).model_copy(update={"mail_from": "crm"})
    run = send_due_mail(engine=server, settings=wrong)
    assert (run.sent, run.waiting, run.failed) == (0, 2, 0)
    assert run.problem == (
        "the sender's address 'crm' cannot be written in an e-mail (addr-spec local part with no domain):"
        " check TERRAIN_MAIL_FROM"
    )
    assert {(e.status, e.last_error) for e in _emails(server).values()} == {("queued", run.problem)}
    assert smtp.inbox.messages == []
    fixed = send_due_mail(engine=server, settings=_mail_settings(tmp_path, smtp), now=utcnow() + timedelta(minutes=3))
    assert (fixed.sent, fixed.waiting, fixed.failed, fixed.problem) == (2, 0, 0, None)


def test_an_outcome_that_cannot_be_written_leaves_the_others_written(
    api: TestClient, alice: SyncEngine, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refusing one e-mail's outcome left the whole batch queued: every e-mail of it,
    sent already, went a second time after the back-off. Now only that one can."""
    _meet_leads(alice, [(f"Client{n} SARL", "FR", f"client{n}@example.fr", "fr") for n in range(3)])
    _push(alice)
    smtp.start()
    server = _server(api)
    mail = _mail_settings(tmp_path, smtp)
    record = mailer._record
    refused: list[str] = []

    def record_but_the_first(engine: Engine, email_id: str, outcome: Any, now: datetime) -> None:
        if not refused:
            refused.append(email_id)
            raise OperationalError("UPDATE email_message ...", {}, Exception("database is locked"))
        record(engine, email_id, outcome, now)

    monkeypatch.setattr(mailer, "_record", record_but_the_first)
    with pytest.raises(OperationalError):
        send_due_mail(engine=server, settings=mail)
    assert len(smtp.inbox.messages) == 3
    emails = {e.id: e for e in _emails(server).values()}
    assert {i: e.status for i, e in emails.items()} == {i: "queued" if i in refused else "sent" for i in emails}
    monkeypatch.setattr(mailer, "_record", record)
    again = send_due_mail(engine=server, settings=mail, now=utcnow() + timedelta(minutes=3))
    assert (again.sent, again.waiting) == (1, 0)
    sent_to = sorted(to[0] for to, _m in smtp.inbox.messages)
    assert sent_to.count(emails[refused[0]].to_address) == 2 and len(sent_to) == 4


def test_two_senders_at_once_send_each_e_mail_once(
    api: TestClient, alice: SyncEngine, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two server processes' senders (two threads, two connections) claiming one e-mail at a time."""
    _meet_leads(alice, [(f"Client{n} SARL", "FR", f"client{n}@example.fr", "fr") for n in range(8)])
    _push(alice)
    smtp.start()
    server = _server(api)
    mail = _mail_settings(tmp_path, smtp)
    monkeypatch.setattr(mailer, "BATCH", 1)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _n: send_due_mail(engine=server, settings=mail), range(2)))
    assert sum(run.sent for run in runs) == 8
    assert sorted(to[0] for to, _m in smtp.inbox.messages) == sorted(f"client{n}@example.fr" for n in range(8))
    assert {(e.status, e.attempts) for e in _emails(server).values()} == {("sent", 1)}
    with Session(server) as session:
        assert len(session.exec(select(Activity).where(col(Activity.email_id).is_not(None))).all()) == 8


@pytest.mark.parametrize("interval", [0.2, 3600.0], ids=["every-0.2s", "woken-by-the-push"])
def test_the_server_process_sends_queued_e_mails_by_itself(
    demo_engine: Engine, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interval: float
) -> None:
    """Served by uvicorn with SMTP set in its environment: no manual call. With an hour between
    rounds, the push that queued the e-mails wakes the sender."""
    for name, value in {
        "TERRAIN_SMTP_HOST": "127.0.0.1",
        "TERRAIN_SMTP_PORT": str(smtp.port),
        "TERRAIN_MAIL_FROM": "crm@terrain.test",
        "TERRAIN_MAIL_INTERVAL_SECONDS": str(interval),
    }.items():
        monkeypatch.setenv(name, value)
    smtp.start()
    live = start_live_server(demo_engine, tmp_path)
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            device = SyncEngine(replica=open_replica(tmp_path / "alice"), http=http)
            device.sign_in(username="alice", password="demo")
            device.sync()
            time.sleep(0.5)  # with an hour between rounds, the first one is over: only a wake sends now
            _meet_leads(device, LEADS)
            _push(device)
            deadline = time.monotonic() + 15
            while len(smtp.inbox.messages) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sorted(to[0] for to, _m in smtp.inbox.messages) == ["anne@roux.fr", "john@oak.co.uk"]
            while {e.status for e in _emails(demo_engine).values()} != {"sent"} and time.monotonic() < deadline:
                time.sleep(0.05)
            assert {e.status for e in _emails(demo_engine).values()} == {"sent"}
            device.sync()
            with Session(device.replica) as session:
                assert {e.status for e in session.exec(select(EmailMessage)).all()} == {"sent"}
            device.replica.dispose()
    finally:
        live.stop()
    assert not live.thread.is_alive()  # the sender thread did not hold the server's shutdown


def _terrain_server(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_send_mail_sends_what_is_due_once_and_says_how_many(
    api: TestClient, alice: SyncEngine, smtp: SmtpServer, tmp_path: Path
) -> None:
    _meet_leads(alice, LEADS)
    _push(alice)
    server = _server(api)
    env = {
        "TERRAIN_DATABASE_URL": server.url.render_as_string(hide_password=False),
        "TERRAIN_SERVER_DATA_DIR": str(tmp_path / "server-data"),
        "TERRAIN_SMTP_HOST": "",
    }
    off = _terrain_server("send-mail", env=env)
    assert off.returncode == 1
    assert off.stdout.strip() == "e-mails: 0 sent, 2 waiting, 0 failed"
    assert "mail is off: TERRAIN_SMTP_HOST is not set" in off.stderr
    smtp.start()
    env |= {
        "TERRAIN_SMTP_HOST": "127.0.0.1",
        "TERRAIN_SMTP_PORT": str(smtp.port),
        "TERRAIN_MAIL_FROM": "crm@terrain.test",
    }
    sent = _terrain_server("send-mail", env=env)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == "e-mails: 2 sent, 0 waiting, 0 failed"
    assert len(smtp.inbox.messages) == 2
    with ServerSession(server) as session:
        assert len(session.exec(select(Activity).where(col(Activity.email_id).is_not(None))).all()) == 2
