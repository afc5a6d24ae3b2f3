"""What a rep changes on the device, offline or not: each write saves the row in the replica and
its outbox entry in one transaction, so nothing is shown that will not be sent, nor sent that
was not saved.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, SQLModel, select

from app.ids import new_id, utcnow
from app.models import (
    ENTITIES,
    Account,
    Activity,
    Contact,
    Record,
    Visit,
    blank_required_field,
)
from app.mutations import (
    AUTHOR_FIELD,
    CREATES,
    MERGED,
    REPORT_FIELDS,
    UNOWNED_CREATES,
    VERSIONED,
    OrderCommand,
    QuoteCreate,
    priced_document,
    stage_problem,
)
from app.pricing import PricingError
from sync.state import OutboxEntry, SyncConflict, queue_mutation

__all__ = [
    "InvalidEdit",
    "add_contact",
    "create_record",
    "update_record",
    "delete_contact",
    "dismiss_rejected",
    "resend_rejected",
    "edit_account",
    "edit_contact",
    "log_activity",
    "pending_changes",
    "resolve_conflict",
]


class InvalidEdit(ValueError):
    """The edit cannot be saved; the message names the field and the reason."""


def _validated(model: type[SQLModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidEdit(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc


def _update(
    session: Session, model: type[Record], update_model: type[SQLModel], record_id: str, changes: dict[str, Any]
) -> Any:
    record = session.get(model, record_id)
    if record is None:
        raise InvalidEdit(f"no {model.__tablename__} {record_id} on this device")
    body = _validated(update_model, changes)
    values = body.model_dump(exclude_unset=True)
    if (blank := blank_required_field(model, values)) is not None:
        raise InvalidEdit(f"{blank} cannot be empty")
    record.sqlmodel_update(values)
    if (problem := stage_problem(record, values)) is not None:
        session.rollback()
        raise InvalidEdit(problem)
    queue_mutation(
        session,
        entity=str(model.__tablename__),
        record_id=record_id,
        op="update",
        base_version=record.version,
        fields=body.model_dump(mode="json", exclude_unset=True),
    )
    session.commit()
    session.refresh(record)
    return record


def edit_account(*, session: Session, account_id: str, changes: dict[str, Any]) -> Account:
    account: Account = update_record(session=session, entity="account", record_id=account_id, changes=changes)  # type: ignore[assignment]
    return account


def edit_contact(*, session: Session, contact_id: str, changes: dict[str, Any]) -> Contact:
    contact: Contact = update_record(session=session, entity="contact", record_id=contact_id, changes=changes)  # type: ignore[assignment]
    return contact


def add_contact(*, session: Session, fields: dict[str, Any]) -> Contact:
    contact: Contact = create_record(session=session, entity="contact", fields=fields)  # type: ignore[assignment]
    return contact


def delete_contact(*, session: Session, contact_id: str) -> None:
    """Remove a person; the server keeps the history that named them, without the name."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise InvalidEdit(f"no contact {contact_id} on this device")
    queue_mutation(
        session, entity="contact", record_id=contact_id, op="delete", base_version=contact.version, fields={}
    )
    session.delete(contact)
    session.commit()


def log_activity(*, session: Session, fields: dict[str, Any], author_id: str | None = None) -> Activity:
    activity: Activity = create_record(session=session, entity="activity", fields=fields, author_id=author_id)  # type: ignore[assignment]
    return activity


def create_record(
    *, session: Session, entity: str, fields: dict[str, Any], author_id: str | None = None, commit: bool = True
) -> Record:
    """Create a visit, a reminder, a ticket, a lead (an account), a quote or an order here.

    `commit=False` leaves the transaction open, so that several records (a lead's account,
    contact, activity and reminder) are saved together or not at all.

    The fields are checked with the schema the server checks them with (`app.mutations`).
    Quotes and orders are priced with the replica's catalogue; an order carries the total the
    rep saw, and the server refuses it if its own prices give another.
    """
    if entity not in CREATES:
        raise InvalidEdit(f"{entity} records cannot be created on a device")
    model, create_model = CREATES[entity]
    data = dict(fields)
    record_id = data.pop("id", None) or new_id()
    if entity == "order":
        data.setdefault("expected_gross_amount", 0)  # replaced below by the total priced here
    body = _validated(create_model, {**data, "id": record_id} if entity in ("account", "contact") else data)
    account_id = record_id if entity == "account" else getattr(body, "account_id", None)
    if entity not in ("account", *UNOWNED_CREATES) and session.get(Account, account_id) is None:
        raise InvalidEdit(f"no account {account_id} on this device")
    values = body.model_dump(exclude_none=True, exclude={"id", "lines", "expected_gross_amount"})
    values["id"] = record_id
    if entity in AUTHOR_FIELD and author_id:
        values[AUTHOR_FIELD[entity]] = author_id
    wire = body.model_dump(mode="json", exclude_none=True, exclude={"id"})
    children: list[Record] = []
    record: Record
    if isinstance(body, QuoteCreate | OrderCommand):
        if isinstance(body, QuoteCreate):
            # The quote's prices are those of the day it is made; the server prices it as of then.
            body.issued_on = body.issued_on or utcnow().date()
            values["issued_on"] = body.issued_on
            wire["issued_on"] = body.issued_on.isoformat()
            day = body.issued_on
        else:
            day = body.ordered_at.astimezone(UTC).date()
        try:
            record, children = priced_document(session, entity, values, body, day)
        except PricingError as exc:
            raise InvalidEdit(str(exc)) from exc
        # The total shown: the server refuses the document if its own prices give another.
        wire["expected_gross_amount"] = getattr(record, "gross_amount")  # noqa: B009
    else:
        record = model.model_validate(values)
        if (problem := stage_problem(record)) is not None:
            raise InvalidEdit(problem)
    session.add(record)
    session.add_all(children)
    queue_mutation(session, entity=entity, record_id=record_id, op="create", fields=wire)
    if not commit:
        session.flush()
        return record
    session.commit()
    session.refresh(record)
    return record


def update_record(*, session: Session, entity: str, record_id: str, changes: dict[str, Any]) -> Record:
    """Change a visit (move, cancel, check in, report), a reminder (done, snoozed), a ticket or a
    quote here; the server merges it (a quote: only from its latest version)."""
    if entity in MERGED:
        model, update_model = MERGED[entity]
    elif entity in VERSIONED:
        model, update_model = VERSIONED[entity]
    else:
        raise InvalidEdit(f"{entity} records cannot be changed on a device")
    if entity == "visit":
        visit = session.get(Visit, record_id)
        written = [f for f in REPORT_FIELDS & set(changes) if visit and getattr(visit, f) not in (None, changes[f])]
        if written:
            raise InvalidEdit("this visit's report is already written: add a note to the visit instead")
    record: Record = _update(session, model, update_model, record_id, changes)
    return record


def pending_changes(*, session: Session) -> dict[str, Any]:
    """What the rep has not synced yet, what the server refused (and why), and open conflicts."""
    entries = session.exec(select(OutboxEntry).order_by(OutboxEntry.mid)).all()  # type: ignore[arg-type]
    conflicts = session.exec(select(SyncConflict).order_by(SyncConflict.id)).all()  # type: ignore[arg-type]
    return {
        "pending": sum(1 for e in entries if e.status == "pending"),
        "rejected": [
            {"mid": e.mid, "entity": e.entity, "id": e.record_id, "op": e.op, "fields": e.fields, "reason": e.reason}
            for e in entries
            if e.status == "rejected"
        ],
        "conflicts": [
            {
                "id": c.id,
                "entity": c.entity,
                "record_id": c.record_id,
                "field": c.field,
                "server_value": c.server_value,
                "device_value": c.device_value,
            }
            for c in conflicts
        ],
    }


def _rejected_entry(session: Session, mid: int) -> OutboxEntry:
    entry = session.get(OutboxEntry, mid)
    if entry is None or entry.status != "rejected":
        raise InvalidEdit(f"no refused change {mid}")
    return entry


def dismiss_rejected(*, session: Session, mid: int) -> None:
    """Drop a change the server refused. A record created here that the server never took goes
    with it; an edit's record already shows the server's values."""
    entry = _rejected_entry(session, mid)
    if entry.op == "create" and entry.entity in ENTITIES:
        record = session.get(ENTITIES[entry.entity], entry.record_id)
        if record is not None:
            session.delete(record)
    session.delete(entry)
    session.commit()


def resend_rejected(*, session: Session, mid: int, fields: dict[str, Any] | None = None) -> None:
    """Send a refused change again, as it was or as the rep corrected it, as a new change."""
    entry = _rejected_entry(session, mid)
    values = entry.fields if fields is None else fields
    if entry.op == "update" and entry.entity in MERGED | VERSIONED:
        session.delete(entry)
        update_record(session=session, entity=entry.entity, record_id=entry.record_id, changes=values)
        return
    if entry.op == "create" and entry.entity in CREATES:
        body = _validated(CREATES[entry.entity][1], values)
        session.delete(entry)
        queue_mutation(
            session,
            entity=entry.entity,
            record_id=entry.record_id,
            op="create",
            fields=body.model_dump(mode="json", exclude_none=True, exclude={"id"}),
        )
        session.commit()
        return
    raise InvalidEdit(f"a refused {entry.op} of {entry.entity} cannot be sent again: dismiss it")


def resolve_conflict(*, session: Session, conflict_id: int, keep: str) -> None:
    """Settle a conflict: keep the server's value (nothing to send) or the device's (sent as an edit)."""
    conflict = session.get(SyncConflict, conflict_id)
    if conflict is None:
        raise InvalidEdit(f"no conflict {conflict_id}")
    if keep not in ("server", "device"):
        raise InvalidEdit("keep is 'server' or 'device'")
    session.delete(conflict)
    if keep == "server":
        session.commit()
        return
    update_record(
        session=session,
        entity=conflict.entity,
        record_id=conflict.record_id,
        changes={conflict.field: conflict.device_value},
    )
