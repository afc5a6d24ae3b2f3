"""The audit log as managers read it: a record's history (an account's, with everything under
it), or what one user of their team did."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel
from sqlmodel import col, or_, select

from server.deps import CurrentManager, SessionDep
from server.models import AuditEvent, User
from server.scope import get_account_in_scope, scope_owner_ids

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditEventPublic(BaseModel):
    id: str
    at: datetime
    user_id: str | None
    username: str | None
    device_id: str | None
    action: str
    entity: str
    row_id: str | None
    account_id: str | None
    count: int
    detail: str | None


@router.get("", response_model=list[AuditEventPublic])
def read_audit(
    session: SessionDep,
    manager: CurrentManager,
    account_id: Annotated[str | None, Query(max_length=36, description="an account's history")] = None,
    user_id: Annotated[str | None, Query(max_length=36, description="what this user did")] = None,
    before: Annotated[datetime | None, Query(description="only events before this time (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEventPublic]:
    """Newest first. Give `account_id` (an account in your scope: its events and those of the
    records under it) or `user_id` (yourself or one of your team)."""
    if (account_id is None) == (user_id is None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give either account_id or user_id")
    query = select(AuditEvent, User.username).outerjoin(User, col(User.id) == col(AuditEvent.user_id))
    if account_id is not None:
        if get_account_in_scope(session, manager, account_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such account in your scope")
        query = query.where(
            or_(
                col(AuditEvent.account_id) == account_id,
                (col(AuditEvent.entity) == "account") & (col(AuditEvent.row_id) == account_id),
            )
        )
    else:
        team = scope_owner_ids(session, manager)
        if team is not None and user_id not in team or session.get(User, user_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user in your team")
        query = query.where(col(AuditEvent.user_id) == user_id)
    if before is not None:
        query = query.where(col(AuditEvent.at) < before)
    rows = session.exec(query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id)).limit(limit))
    return [AuditEventPublic(**event.model_dump(), username=username) for event, username in rows]
