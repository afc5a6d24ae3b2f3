"""Sends the e-mails reps wrote on their devices (follow-ups after an event) through the server's
SMTP settings, and records each one sent as an activity on the lead and as its campaign's response.

An e-mail due is claimed first, in a short transaction (`SELECT ... FOR UPDATE SKIP LOCKED` on
PostgreSQL, SQLite's write lock otherwise) that counts the attempt: several server processes
never take the same one, and none holds a database lock while it talks to the SMTP server. After
a failed attempt an e-mail waits 2, 4, 8... minutes, at most an hour, counted from its last
change (`backoff`). Its outcome is written in its own transaction through a `ServerSession`, so
devices pull the new status (and the activity) like any other change:

- accepted by the SMTP server: sent, with its activity and campaign response;
- refused for good (a 5xx answer to the recipient or the message, or an address with accents
  before the @ on a server without SMTPUTF8): failed, with the reason;
- anything else (no connection, a 4xx answer, the server's own settings refused): still
  queued, with the reason, tried again after the back-off. Nothing is lost;
- to a person who has not agreed to e-mails (their contact's `consent_email` is off when the
  e-mail is claimed): failed, with that reason, never handed to the SMTP server.

No SMTP error escapes `send_due_mail`; a database error does, and the sender loop logs it.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage as MailMessage
from email.utils import format_datetime
from typing import Any, Literal

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from app.ids import utcnow
from app.models import Activity, Campaign, CampaignResponse, Contact, EmailMessage, EmailStatus
from server.db import ServerSession, begin_write
from server.models import User
from server.settings import ServerSettings

__all__ = [
    "BATCH",
    "NO_CONSENT",
    "MailRun",
    "MailSender",
    "backoff",
    "mail_lifespan",
    "send_due_mail",
    "waiting_count",
]

log = logging.getLogger(__name__)

#: E-mails claimed, and sent over one SMTP connection, at a time.
BATCH = 50
MAX_BACKOFF = timedelta(hours=1)
#: An activity's summary holds this much of the e-mail's text.
SUMMARY_CHARS = 10_000
_ERROR_CHARS = 500
#: Why an e-mail to a person without e-mail consent fails (no name or address in it: it is shown
#: on every device of the account and kept with the e-mail).
NO_CONSENT = "not sent: this person has not agreed to receive e-mails (no e-mail consent on their contact record)"
#: What the standard library raises for an address it cannot write in a header.
_BAD_ADDRESS = (ValueError, TypeError, IndexError, MessageError)


def backoff(attempts: int) -> timedelta:
    """How long an e-mail waits after its `attempts`-th try: 2, 4, 8... minutes, at most an hour."""
    if attempts <= 0:
        return timedelta(0)
    return min(timedelta(minutes=2 ** min(attempts, 6)), MAX_BACKOFF)


def _due(now: datetime) -> Any:
    steps = [
        sa.and_(col(EmailMessage.attempts) == n, col(EmailMessage.updated_at) <= now - backoff(n)) for n in range(1, 6)
    ]
    return sa.and_(
        col(EmailMessage.status) == EmailStatus.queued,
        sa.or_(
            col(EmailMessage.attempts) == 0,
            *steps,
            sa.and_(col(EmailMessage.attempts) >= 6, col(EmailMessage.updated_at) <= now - MAX_BACKOFF),
        ),
    )


@dataclass(frozen=True, slots=True)
class MailRun:
    """What a round of sending did: sent and failed now, still waiting after it, and the problem
    that stopped it (no connection, settings refused), if any."""

    sent: int = 0
    waiting: int = 0
    failed: int = 0
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class _Outgoing:
    id: str
    to_address: str
    language: str
    subject: str
    body: str
    author_name: str | None
    author_email: str | None
    #: Why it must not be sent at all (no consent), or None.
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: Literal["sent", "retry", "failed"]
    error: str | None = None


class _Stop(Exception):
    """The SMTP server cannot take any more e-mails this round (the reason is the message)."""


def waiting_count(engine: Engine) -> int:
    with ServerSession(engine) as session:
        return int(session.exec(select(func.count()).where(EmailMessage.status == EmailStatus.queued)).one())


def send_due_mail(*, engine: Engine, settings: ServerSettings, now: datetime | None = None) -> MailRun:
    """Send every e-mail due at `now` (default: the clock), BATCH at a time, and record each
    outcome. Mail off (no SMTP host): nothing is tried. `now` lets tests move past a back-off."""
    if not settings.smtp_host:
        return MailRun(waiting=waiting_count(engine), problem="mail is off: TERRAIN_SMTP_HOST is not set")
    sent = failed = 0
    problem = None
    while True:
        moment = now or utcnow()
        claimed = _claim(engine, moment, BATCH)
        if not claimed:
            break
        # Refused ones fail without the SMTP server: even while it is down, they never wait for it.
        outcomes = {item.id: _Outcome("failed", item.refusal) for item in claimed if item.refusal}
        sendable = [item for item in claimed if not item.refusal]
        found, problem = _deliver(settings, sendable, moment) if sendable else ({}, None)
        outcomes |= found
        unrecorded: Exception | None = None
        for item in claimed:
            outcome = outcomes.get(item.id, _Outcome("retry", problem))
            try:
                _record(engine, item.id, outcome, moment)
            except Exception as exc:
                # The others' outcomes are still written: each e-mail sent and left queued
                # is sent again after its back-off.
                log.exception("the outcome of e-mail %s (%s) could not be written", item.id, outcome.status)
                unrecorded = unrecorded or exc
                continue
            sent += outcome.status == "sent"
            failed += outcome.status == "failed"
        if unrecorded is not None:
            raise unrecorded
        if problem is not None or len(claimed) < BATCH:
            break
    return MailRun(sent=sent, waiting=waiting_count(engine), failed=failed, problem=problem)


def _claim(engine: Engine, now: datetime, limit: int) -> list[_Outgoing]:
    """Take up to `limit` due e-mails for this process: their attempt is counted (and their
    `updated_at` moved), so no other process takes them before their back-off is over."""
    with ServerSession(engine) as session:
        begin_write(session)
        query = (
            select(EmailMessage)
            .where(_due(now))
            .order_by(col(EmailMessage.queued_at), col(EmailMessage.id))
            .limit(limit)
        )
        if session.connection().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        emails = session.exec(query).all()
        if not emails:
            return []
        author_ids = {e.author_id for e in emails if e.author_id}
        authors = {u.id: u for u in session.exec(select(User).where(col(User.id).in_(author_ids))).all()}
        refusals = _without_consent(session, emails)
        claimed = []
        for email in emails:
            email.attempts += 1
            session.add(email)
            author = authors.get(email.author_id or "")
            claimed.append(
                _Outgoing(
                    id=email.id,
                    to_address=email.to_address,
                    language=email.language,
                    subject=email.subject,
                    body=email.body,
                    author_name=author.full_name if author else None,
                    author_email=author.email if author else None,
                    refusal=NO_CONSENT if email.id in refusals else None,
                )
            )
        session.commit()
    return claimed


def _address_key(address: str) -> str:
    try:
        address = validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        pass
    return address.strip().lower()


def _without_consent(session: ServerSession, emails: Sequence[EmailMessage]) -> set[str]:
    """The e-mails (ids) going to a person who has not agreed to e-mails, read now: the person
    named, or else any of the customer's people whose address it is (a customer's own address,
    a switchboard's, is no person's)."""
    named = {e.contact_id for e in emails if e.contact_id}
    consent = dict(session.exec(select(Contact.id, Contact.consent_email).where(col(Contact.id).in_(named))).all())
    unnamed = {e.account_id for e in emails if not e.contact_id}
    refusing: set[tuple[str, str]] = {
        (account_id, _address_key(address))
        for account_id, address in session.exec(
            select(Contact.account_id, Contact.email).where(
                col(Contact.account_id).in_(unnamed),
                col(Contact.email).is_not(None),
                Contact.consent_email == sa.false(),
            )
        ).all()
        if address
    }
    refused = set()
    for email in emails:
        if email.contact_id:
            if email.contact_id in consent and not consent[email.contact_id]:
                refused.add(email.id)
        elif (email.account_id, _address_key(email.to_address)) in refusing:
            refused.add(email.id)
    return refused


def _sender_problem(settings: ServerSettings) -> str | None:
    """Why the sender's address cannot head an e-mail, or None. A setting to fix: every e-mail
    waits for it, none fails for it."""
    sender = settings.resolved_mail_from()
    try:
        Address(addr_spec=sender)
    except _BAD_ADDRESS as exc:
        return f"the sender's address {sender!r} cannot be written in an e-mail ({exc}): check TERRAIN_MAIL_FROM"
    return None


def _message(settings: ServerSettings, item: _Outgoing, now: datetime) -> MailMessage:
    sender = settings.resolved_mail_from()
    message = MailMessage()
    message["From"] = Address(display_name=item.author_name or "", addr_spec=sender)
    if item.author_email:
        try:
            message["Reply-To"] = Address(display_name=item.author_name or "", addr_spec=item.author_email)
        except _BAD_ADDRESS:
            pass  # a rep's address on the server that no header takes: replies go to the sender
    message["To"] = _ascii_address(item.to_address)
    message["Subject"] = " ".join(item.subject.split())
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{item.id}@{sender.rpartition('@')[2] or 'terrain'}>"
    message.set_content(item.body)
    message["Content-Language"] = item.language  # after the content: set_content drops Content-* headers
    return message


def _ascii_address(address: str) -> str:
    """The address in ASCII where it has an ASCII form (an accented domain in its IDNA form), so
    that an SMTP server without SMTPUTF8 takes it too."""
    try:
        return validate_email(address, check_deliverability=False).ascii_email or address
    except EmailNotValidError:
        return address


def _where(settings: ServerSettings) -> str:
    return f"{settings.smtp_host}:{settings.smtp_port}"


def _answer(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {' '.join(text.split())}"


def _connection_problem(settings: ServerSettings, exc: BaseException) -> str:
    where = _where(settings)
    if isinstance(exc, TimeoutError):
        return f"the SMTP server at {where} did not answer in time"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"the SMTP server at {where} refused the user name or password ({_answer(exc)})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the SMTP server at {where} refused the connection ({_answer(exc)})"
    if isinstance(exc, ssl.SSLError):
        return f"no secure connection to the SMTP server at {where}: {exc.reason or exc}"
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return f"cannot reach the SMTP server at {where}: {reason}"


def _connect(settings: ServerSettings) -> smtplib.SMTP:
    if settings.smtp_ssl and settings.smtp_starttls:
        raise _Stop("TERRAIN_SMTP_SSL and TERRAIN_SMTP_STARTTLS are both set: choose one")
    timeout = settings.smtp_timeout_seconds
    try:
        smtp: smtplib.SMTP
        if settings.smtp_ssl:
            smtp = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        try:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
        except BaseException:
            smtp.close()
            raise
    except (OSError, smtplib.SMTPException) as exc:
        raise _Stop(_connection_problem(settings, exc)) from exc
    return smtp


def _deliver(
    settings: ServerSettings, claimed: list[_Outgoing], now: datetime
) -> tuple[dict[str, _Outcome], str | None]:
    """Send the claimed e-mails over one connection: the outcome of each one tried, and the
    problem that stopped the round (the ones not tried wait for the next)."""
    outcomes: dict[str, _Outcome] = {}
    if (problem := _sender_problem(settings)) is not None:
        return outcomes, problem
    try:
        smtp = _connect(settings)
    except _Stop as stop:
        return outcomes, str(stop)
    try:
        for item in claimed:
            outcomes[item.id] = _send_one(settings, smtp, item, now)
    except _Stop as stop:
        return outcomes, str(stop)
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return outcomes, None


def _send_one(settings: ServerSettings, smtp: smtplib.SMTP, item: _Outgoing, now: datetime) -> _Outcome:
    try:
        message = _message(settings, item, now)
    except _BAD_ADDRESS as exc:
        # A header that cannot be written (a malformed address): no retry makes it right.
        return _Outcome("failed", f"this e-mail cannot be written: {exc}")
    try:
        smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        answer = _answer(smtplib.SMTPResponseException(code, text))
        if code >= 500:
            return _Outcome("failed", f"the recipient {item.to_address} was refused: {answer}")
        return _Outcome("retry", f"the recipient {item.to_address} was put off for now: {answer}")
    except smtplib.SMTPNotSupportedError as exc:
        # An address with accents before the @ needs SMTPUTF8, which this server does not offer:
        # no retry makes it go, and the e-mails behind it must not wait for it.
        return _Outcome("failed", f"the SMTP server at {_where(settings)} cannot send to {item.to_address}: {exc}")
    except smtplib.SMTPSenderRefused as exc:
        # Our own settings, not this e-mail: every other would be refused too; nothing fails for it.
        raise _Stop(
            f"the SMTP server at {_where(settings)} refuses the sender {settings.resolved_mail_from()}"
            f" ({_answer(exc)}): check TERRAIN_MAIL_FROM"
        ) from exc
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            return _Outcome("failed", f"the SMTP server refused this e-mail: {_answer(exc)}")
        if exc.smtp_code == 421:  # the server is closing the connection
            raise _Stop(f"the SMTP server at {_where(settings)} closed the connection ({_answer(exc)})") from exc
        return _Outcome("retry", f"the SMTP server put this e-mail off for now: {_answer(exc)}")
    except (OSError, smtplib.SMTPException) as exc:
        raise _Stop(_connection_problem(settings, exc)) from exc
    return _Outcome("sent")


def _record(engine: Engine, email_id: str, outcome: _Outcome, now: datetime) -> None:
    """Write one e-mail's outcome; a sent one becomes an activity and its campaign's response,
    in the same transaction."""
    with ServerSession(engine) as session:
        begin_write(session)
        email = session.get(EmailMessage, email_id)
        if email is None or email.status != EmailStatus.queued:
            return  # its customer was deleted meanwhile
        email.last_error = outcome.error[:_ERROR_CHARS] if outcome.error else None
        if outcome.status == "failed":
            email.status = EmailStatus.failed
        elif outcome.status == "sent":
            email.status = EmailStatus.sent
            email.sent_at = now
            session.add(
                Activity(
                    account_id=email.account_id,
                    contact_id=email.contact_id,
                    kind="email",
                    direction="out",
                    occurred_at=now,
                    subject=email.subject,
                    summary=email.body[:SUMMARY_CHARS],
                    campaign_id=email.campaign_id,
                    email_id=email.id,
                    author_id=email.author_id,
                )
            )
            if email.campaign_id and session.get(Campaign, email.campaign_id) is not None:
                session.add(
                    CampaignResponse(
                        campaign_id=email.campaign_id,
                        account_id=email.account_id,
                        contact_id=email.contact_id,
                        responded_at=now,
                        response="email_sent",
                    )
                )
        session.add(email)
        session.commit()


class MailSender:
    """Sends due e-mails every `mail_interval_seconds` in a thread of its own, and at once when
    woken (after a push that queued e-mails)."""

    def __init__(self, engine: Engine, settings: ServerSettings) -> None:
        self.engine, self.settings = engine, settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="terrain-mail", daemon=True)

    def start(self) -> MailSender:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # a wake during the round below calls for another round
            try:
                run = send_due_mail(engine=self.engine, settings=self.settings)
            except Exception:
                log.exception("sending e-mails failed; trying again in %s s", self.settings.mail_interval_seconds)
            else:
                if run.problem:
                    log.warning("e-mails: %d sent, %d waiting: %s", run.sent, run.waiting, run.problem)
                elif run.sent or run.failed:
                    log.info("e-mails: %d sent, %d waiting, %d failed", run.sent, run.waiting, run.failed)
            self._wake.wait(self.settings.mail_interval_seconds)


@asynccontextmanager
async def mail_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run a `MailSender` beside the API while mail is on (`app.state.mail_sender`)."""
    settings: ServerSettings = app.state.settings
    sender = MailSender(app.state.engine, settings).start() if settings.smtp_host else None
    app.state.mail_sender = sender
    try:
        yield
    finally:
        app.state.mail_sender = None
        if sender is not None:
            await asyncio.to_thread(sender.stop)  # a round under way finishes off the event loop
