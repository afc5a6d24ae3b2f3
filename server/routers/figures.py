"""The figures of the caller's book: a rep's accounts, a manager's team's, an admin's all."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from app.dashboard import book_figures
from server.deps import CurrentUser, SessionDep
from server.scope import account_scope_filter, scope_owner_ids, scope_targets

router = APIRouter(prefix="/api/v1/figures", tags=["figures"])

#: The longest period one request may cover.
MAX_DAYS = 3660


@router.get("")
def figures(
    session: SessionDep,
    user: CurrentUser,
    start: Annotated[date, Query(alias="from", description="first day, YYYY-MM-DD")],
    end: Annotated[date, Query(alias="to", description="last day, YYYY-MM-DD")],
) -> dict[str, Any]:
    """Churn, acquisition, revenue and orders against the targets, close rate, sales cycle, NPS,
    CES, first-contact resolution, RFM segments and the revenue by month over [from, to], for
    the caller's book: a rep's, a manager's team's, an admin's all (definitions: app/figures.py
    and the README)."""
    if end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "to: the period ends before it starts")
    if (end - start).days > MAX_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"to: a period covers at most {MAX_DAYS} days")
    return book_figures(
        session=session,
        start=start,
        end=end,
        scope=account_scope_filter(scope_owner_ids(session, user)),
        targets=scope_targets(session, user),
    )
