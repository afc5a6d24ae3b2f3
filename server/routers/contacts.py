"""Contacts: read within one's scope; create and change as a manager."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlmodel import col, select

from app.models import Contact, ContactCreate, ContactPublic, ContactUpdate
from server.deps import CurrentManager, CurrentUser, SessionDep
from server.edits import changes_to_apply
from server.scope import get_account_in_scope

router = APIRouter(prefix="/api/v1", tags=["contacts"])

NOT_FOUND = "no such contact in your scope"


def _contact_in_scope(session: SessionDep, user: CurrentUser, contact_id: str) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or get_account_in_scope(session, user, contact.account_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
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
