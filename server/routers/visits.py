"""Visits with their check-in and report, read within one's scope: a rep their own accounts',
a manager their team's, an admin all."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlmodel import col, select
from sqlmodel.sql.expression import Select

from app.models import Account, Visit, VisitPublic
from server.audit import read_in_bulk
from server.deps import CurrentUser, SessionDep
from server.models import User
from server.scope import account_scope_filter, scope_owner_ids

router = APIRouter(prefix="/api/v1/visits", tags=["visits"])

#: The longest period one request may cover, both days counted.
MAX_DAYS = 366

NOT_FOUND = "no such visit in your scope"


def _edge(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _in_scope(session: SessionDep, user: User) -> Select[Visit, str, str]:
    """Visits with their account's name and their rep's user name, within the user's scope."""
    return (
        select(Visit, Account.name, User.username)
        .join(Account, col(Account.id) == col(Visit.account_id))
        .outerjoin(User, col(User.id) == col(Visit.rep_id))
        .where(account_scope_filter(scope_owner_ids(session, user)))
    )


def _public(visit: Visit, account_name: str, rep_username: str | None) -> VisitPublic:
    return VisitPublic.model_validate(
        {**visit.model_dump(), "account_name": account_name, "rep_username": rep_username}
    )


@router.get("", response_model=list[VisitPublic])
def list_visits(
    session: SessionDep,
    user: CurrentUser,
    start: Annotated[date, Query(alias="from", description="first day, YYYY-MM-DD (UTC)")],
    end: Annotated[date, Query(alias="to", description="last day, YYYY-MM-DD (UTC), included")],
    rep: Annotated[str | None, Query(max_length=80, description="only this rep's visits (user name)")] = None,
) -> list[VisitPublic]:
    """The visits starting within [from, to] (UTC days), by start time: planned, checked in
    (time and position), done with their report (notes, outcome, next steps) or cancelled."""
    if end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "to: the period ends before it starts")
    if (end - start).days + 1 > MAX_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"to: a period covers at most {MAX_DAYS} days")
    query = _in_scope(session, user).where(
        col(Visit.starts_at) >= _edge(start), col(Visit.starts_at) < _edge(end + timedelta(days=1))
    )
    if rep is not None:
        owners = scope_owner_ids(session, user)
        rep_user = session.exec(select(User).where(User.username == rep)).first()
        # One answer for a name that does not exist and one outside the team: names stay private.
        if rep_user is None or (owners is not None and rep_user.id not in owners):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"rep: no user {rep!r} in your team")
        query = query.where(col(Visit.rep_id) == rep_user.id)
    rows = session.exec(query.order_by(col(Visit.starts_at), col(Visit.id))).all()
    read_in_bulk(session, "visit", len(rows), "list")
    return [_public(visit, account_name, rep_username) for visit, account_name, rep_username in rows]


@router.get("/{visit_id}", response_model=VisitPublic)
def read_visit(visit_id: str, session: SessionDep, user: CurrentUser) -> VisitPublic:
    row = session.exec(_in_scope(session, user).where(col(Visit.id) == visit_id)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    visit, account_name, rep_username = row
    return _public(visit, account_name, rep_username)
