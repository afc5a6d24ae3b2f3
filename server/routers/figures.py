"""The figures of the caller's book: a rep's accounts, a manager's team's, an admin's all."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from app.dashboard import book_figures
from server.deps import CurrentUser, SessionDep
from server.scope import account_scope_filter, scope_owner_ids, scope_targets

router = APIRouter(prefix="/api/v1/figures", tags=["figures"])

#: The longest period one request may cover.
MAX_DAYS = 3660


class MonthRevenue(BaseModel):
    month: str = Field(description="YYYY-MM")
    net_amount: int
    orders: int


class BookFigures(BaseModel):
    """What `app.dashboard.book_figures` returns: amounts in minor units, rates from 0 to 1 (a
    figure against its target: the ratio), None where the period has nothing to compute from."""

    start: date = Field(alias="from")
    end: date = Field(alias="to")
    active_at_start: int
    active_at_end: int
    churn_rate: float | None
    acquisition_rate: float | None
    orders: int
    currency: str
    revenue_net_amount: int
    revenue_target_amount: int | None
    revenue_vs_target: float | None
    order_target: int | None
    orders_vs_target: float | None
    close_rate: float | None
    sales_cycle_days: float | None
    account_cycle_days: float | None
    nps: int | None = Field(description="% promoters - % detractors, -100 to 100")
    ces: float | None
    first_contact_resolution: float | None
    #: How many accounts of the book are in each RFM segment.
    rfm_segments: dict[str, int]
    revenue_by_month: list[MonthRevenue]


@router.get("", response_model=BookFigures)
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
