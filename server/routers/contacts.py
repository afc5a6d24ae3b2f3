"""Contacts: read within one's scope; create and change as a manager. A person's data is
exported by whoever reaches their account, and erased by a manager (GDPR, `server.gdpr`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlmodel import col, select

from app.models import Contact, ContactCreate, ContactPublic, ContactUpdate
from server.audit import record
from server.db import begin_write
from server.deps import CurrentManager, CurrentUser, SessionDep
from server.edits import changes_to_apply
from server.errors import ApiError
from server.gdpr import ContactExport, erase_contact, export_contact
from server.scope import get_account_in_scope

router = APIRouter(prefix="/api/v1", tags=["contacts"])

NOT_FOUND = "no such contact in your scope"


def _contact_in_scope(session: SessionDep, user: CurrentUser, contact_id: str) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or get_account_in_scope(session, user, contact.account_id) is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return contact


@router.get("/accounts/{account_id}/contacts", response_model=list[ContactPublic])
def list_contacts(
    account_id: str,
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[Contact]:
    if get_account_in_scope(session, user, account_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such account in your scope")
    query = select(Contact).where(Contact.account_id == account_id).order_by(col(Contact.last_name)).limit(limit)
    return list(session.exec(query).all())


@router.get("/contacts/{contact_id}", response_model=ContactPublic)
def read_contact(contact_id: str, session: SessionDep, user: CurrentUser) -> Contact:
    return _contact_in_scope(session, user, contact_id)


@router.post("/contacts", response_model=ContactPublic, status_code=status.HTTP_201_CREATED)
def create_contact(body: ContactCreate, session: SessionDep, manager: CurrentManager) -> Contact:
    if get_account_in_scope(session, manager, body.account_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such account in your scope")
    if body.id and session.get(Contact, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"contact {body.id} already exists")
    contact = Contact.model_validate(body.model_dump(exclude_none=True))
    session.add(contact)
    session.commit()
    return contact


@router.patch("/contacts/{contact_id}", response_model=ContactPublic)
def update_contact(contact_id: str, body: ContactUpdate, session: SessionDep, manager: CurrentManager) -> Contact:
    contact = _contact_in_scope(session, manager, contact_id)
    contact.sqlmodel_update(changes_to_apply(body, Contact))
    session.commit()
    return contact


@router.get("/contacts/{contact_id}/export", response_model=ContactExport)
def export_contact_data(contact_id: str, session: SessionDep, user: CurrentUser) -> ContactExport:
    """Everything held about the person (their right of access): the contact, their account's
    name, every record naming them, and the audit events about those. For the rep who owns the
    account, and managers and admins whose scope holds it; the export is logged."""
    begin_write(session)  # SQLite: the export's audit event is written after the reads
    contact = _contact_in_scope(session, user, contact_id)
    export = export_contact(session, contact)
    record(session, action="export", entity="contact", row_id=contact.id, account_id=contact.account_id)
    session.commit()
    return export


@router.delete("/contacts/{contact_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def erase_contact_data(contact_id: str, session: SessionDep, manager: CurrentManager) -> Response:
    """Erase the person (their right to erasure): the contact and the records only about them
    go, the account's records stay without them; devices drop them at their next sync. A
    manager or admin whose scope holds the account."""
    begin_write(session)  # SQLite: the write lock first; PostgreSQL: the row lock below
    contact = session.exec(select(Contact).where(Contact.id == contact_id).with_for_update()).first()
    if contact is None or get_account_in_scope(session, manager, contact.account_id) is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    erase_contact(session, contact)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
