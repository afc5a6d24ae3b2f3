"""A person's rights over what the CRM holds about them (GDPR): everything about a contact,
exported as JSON (access), and the person erased from the server (erasure).

An erasure is one transaction through the ORM of a `ServerSession`, so the change log carries it
to every device at its next sync: the contact and the records only about them (e-mails to them
and the activities recording those e-mails, campaign and survey answers, reminders about them)
are deleted; the account's records that named them (activities, visits, quotes, orders,
tickets) stay, without the person. Their e-mail and phones leave the duplicate-check keys
(`account_key`) and the answers kept for retried pushes. The audit log keeps the act (who, when,
which record id), never the person's name, e-mail or phone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, select

from app.ids import utcnow
from app.models import (
    ENTITIES,
    Account,
    Activity,
    CampaignResponse,
    Contact,
    ContactPublic,
    EmailMessage,
    Record,
    Reminder,
    SurveyResponse,
    table_of,
)
from server.audit import ACTOR
from server.db import chunks
from server.merges import index_accounts
from server.models import AuditEvent, FieldChange, ProcessedMutation

__all__ = [
    "ABOUT_THE_PERSON",
    "ERASURE_DETAIL",
    "REFERENCES",
    "AuditEventExport",
    "ContactExport",
    "Erasure",
    "erase_contact",
    "export_contact",
]

#: The columns by which a record names a person.
_PERSON_COLUMNS = ("contact_id", "met_contact_id")
#: Records that are only about the person: deleted with them.
ABOUT_THE_PERSON: tuple[type[Record], ...] = (EmailMessage, CampaignResponse, SurveyResponse, Reminder)
#: Every (entity, column) naming a person, in ENTITIES order (parents before children).
_NAMING: tuple[tuple[str, str], ...] = tuple(
    (name, column) for name, model in ENTITIES.items() for column in _PERSON_COLUMNS if column in table_of(model).c
)
#: Records of the account that name the person: kept, with the person's reference emptied.
REFERENCES: tuple[tuple[str, str], ...] = tuple(
    (name, column) for name, column in _NAMING if ENTITIES[name] not in ABOUT_THE_PERSON
)
#: The audit events' detail for an erasure: why, never who.
ERASURE_DETAIL = "erased at the person's request (GDPR)"
#: What replaces a retried push's answer that quoted the person.
_SCRUBBED = "(personal data erased)"


class AuditEventExport(BaseModel):
    at: datetime
    user_id: str | None
    device_id: str | None
    action: str
    entity: str
    row_id: str | None
    count: int
    detail: str | None


class ContactExport(BaseModel):
    """Everything the server holds about one person."""

    exported_at: datetime
    contact: ContactPublic
    account_id: str
    account_name: str
    #: Every record naming the person, by entity ("activity", "visit", "email_message"...), each
    #: as the API writes it; an entity with none has an empty list.
    records: dict[str, list[dict[str, Any]]]
    #: What was done to the person's record and to those records (changes, exports...), oldest first.
    audit_events: list[AuditEventExport]


def _naming(session: Session, contact_id: str) -> dict[str, list[Record]]:
    """The records naming the person, by entity, each once (a visit may name them twice)."""
    found: dict[str, list[Record]] = {name: [] for name, _column in _NAMING}
    for name, model in ENTITIES.items():
        columns = [c for n, c in _NAMING if n == name]
        if not columns:
            continue
        named = sa.or_(*(getattr(model, c) == contact_id for c in columns))
        found[name] = list(session.exec(select(model).where(named).order_by(col(model.id))).all())
    return found


def export_contact(session: Session, contact: Contact) -> ContactExport:
    """The person, their account's name, every record naming them and the audit events about
    them and those records. The caller checks the reader's scope and logs the export."""
    account = session.get(Account, contact.account_id)
    naming = _naming(session, contact.id)
    subjects = {("contact", contact.id)} | {(name, r.id) for name, rows in naming.items() for r in rows}
    events: list[AuditEvent] = []
    for chunk in chunks(sorted({row_id for _entity, row_id in subjects})):
        events += session.exec(select(AuditEvent).where(col(AuditEvent.row_id).in_(chunk))).all()
    about = sorted((e for e in events if (e.entity, e.row_id) in subjects), key=lambda e: (e.at, e.id))
    return ContactExport(
        exported_at=utcnow(),
        contact=ContactPublic.model_validate(contact, from_attributes=True),
        account_id=contact.account_id,
        account_name=account.name if account is not None else "",
        records={name: [r.model_dump(mode="json") for r in rows] for name, rows in naming.items()},
        audit_events=[AuditEventExport.model_validate(e, from_attributes=True) for e in about],
    )


@dataclass
class Erasure:
    """What an erasure did: records deleted, and records kept without the person, by entity."""

    deleted: dict[str, int] = field(default_factory=dict)
    unlinked: dict[str, int] = field(default_factory=dict)


def erase_contact(session: Session, contact: Contact) -> Erasure:
    """Remove the person from the server (see the module's docstring). The caller holds the
    write lock (`begin_write`), checked the manager's scope, and commits."""
    contact_id, account_id = contact.id, contact.account_id
    identifiers = sorted({v.strip() for v in (contact.email, contact.phone, contact.mobile) if v and v.strip()})
    # Every change of this commit is logged with why it was made (`server.audit`).
    session.info[ACTOR] = ERASURE_DETAIL
    done = Erasure()

    def gone(name: str, rows: list[Any]) -> None:
        for row in rows:
            session.delete(row)
        if rows:
            done.deleted[name] = done.deleted.get(name, 0) + len(rows)

    emails = list(session.exec(select(EmailMessage).where(EmailMessage.contact_id == contact_id)).all())
    # The activity recording an e-mail sent is a copy of it (its text greets the person).
    for chunk in chunks([e.id for e in emails]):
        gone("activity", list(session.exec(select(Activity).where(col(Activity.email_id).in_(chunk))).all()))
    for model in ABOUT_THE_PERSON:
        name: str = model.__tablename__  # type: ignore[assignment]
        gone(name, list(session.exec(select(model).where(getattr(model, "contact_id") == contact_id)).all()))  # noqa: B009
    session.flush()
    for name, column in REFERENCES:
        model = ENTITIES[name]
        rows = session.exec(select(model).where(getattr(model, column) == contact_id)).all()
        for row in rows:
            setattr(row, column, None)
        if rows:
            done.unlinked[name] = done.unlinked.get(name, 0) + len(rows)
    session.flush()  # no row names the person any more: the contact can go
    session.delete(contact)
    session.flush()
    conn = session.connection()
    fc = table_of(FieldChange).c
    conn.execute(sa.delete(table_of(FieldChange)).where(fc.entity == "contact", fc.row_id == contact_id))
    index_accounts(session, [account_id])  # the person's e-mail and phones leave the duplicate keys
    _scrub_push_answers(conn, identifiers)
    done.deleted["contact"] = 1
    return done


def _scrub_push_answers(conn: sa.Connection, identifiers: list[str]) -> None:
    """Answers kept for retried pushes that quote the person's e-mail or phone (a refusal's
    reason, a conflict's values) lose that text."""
    if not identifiers:
        return
    pm = table_of(ProcessedMutation)
    reason, conflicts = sa.func.lower(pm.c.reason), sa.func.lower(sa.cast(pm.c.conflicts, sa.Text))
    for value in identifiers:
        needle = value.lower()
        conn.execute(
            sa.update(pm).where(reason.contains(needle, autoescape=True)).values(reason=_SCRUBBED),
        )
        conn.execute(
            sa.update(pm).where(conflicts.contains(needle, autoescape=True)).values(conflicts=[]),
        )
