"""Accounts: read within one's scope; create, change and reassign as a manager."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from app.models import Account, AccountCreate, AccountPublic, AccountUpdate, LifecycleStageChange
from server.audit import read_in_bulk
from server.deps import CurrentManager, CurrentUser, Offset, SessionDep
from server.edits import changes_to_apply
from server.models import Role, User
from server.reassign import reassign_account
from server.scope import account_scope_filter, get_account_in_scope, scope_owner_ids

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])

NOT_FOUND = "no such account in your scope"


def _check_owner(session: SessionDep, manager: User, owner_id: str | None) -> None:
    if owner_id is None:
        return
    owner = session.get(User, owner_id)
    owners = scope_owner_ids(session, manager)
    if owner is None or not owner.active or (owners is not None and owner_id not in owners):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"owner_id {owner_id!r} is not a user of your team")


@router.get("", response_model=list[AccountPublic])
def list_accounts(
    session: SessionDep,
    user: CurrentUser,
    q: Annotated[str | None, Query(max_length=100, description="part of the name")] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Account]:
    query = select(Account).where(account_scope_filter(scope_owner_ids(session, user)))
    if q:
        query = query.where(col(Account.name).ilike(f"%{q}%"))
    accounts = list(session.exec(query.order_by(col(Account.name)).offset(offset).limit(limit)).all())
    read_in_bulk(session, "account", len(accounts), "list")
    return accounts


@router.get("/{account_id}", response_model=AccountPublic)
def read_account(account_id: str, session: SessionDep, user: CurrentUser) -> Account:
    account = get_account_in_scope(session, user, account_id)
    if account is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return account


@router.post("", response_model=AccountPublic, status_code=status.HTTP_201_CREATED)
def create_account(body: AccountCreate, session: SessionDep, manager: CurrentManager) -> Account:
    _check_owner(session, manager, body.owner_id)
    data = body.model_dump(exclude_none=True)
    if body.id and session.get(Account, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"account {body.id} already exists")
    account = Account.model_validate(data)
    session.add(account)
    session.add(LifecycleStageChange(account_id=account.id, to_stage=account.lifecycle_stage, changed_by=manager.id))
    session.commit()
    return account


@router.patch("/{account_id}", response_model=AccountPublic)
def update_account(account_id: str, body: AccountUpdate, session: SessionDep, manager: CurrentManager) -> Account:
    account = get_account_in_scope(session, manager, account_id)
    if account is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    changes = changes_to_apply(body, Account)
    old_stage = account.lifecycle_stage
    account.sqlmodel_update(changes)
    if account.lifecycle_stage != old_stage:
        session.add(
            LifecycleStageChange(
                account_id=account.id, from_stage=old_stage, to_stage=account.lifecycle_stage, changed_by=manager.id
            )
        )
    session.commit()
    return account


class Reassignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner_id: str = Field(max_length=36)


@router.post("/{account_id}/reassign", response_model=AccountPublic)
def reassign(account_id: str, body: Reassignment, session: SessionDep, manager: CurrentManager) -> Account:
    """Give the account, and everything under it, to another rep."""
    account = get_account_in_scope(session, manager, account_id)
    if account is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    _check_owner(session, manager, body.owner_id)
    new_owner = session.get(User, body.owner_id)
    if new_owner is None or new_owner.role == Role.admin and manager.role != Role.admin:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "accounts go to reps or managers")
    reassign_account(session=session, account=account, owner_id=body.owner_id)
    session.commit()
    return account
