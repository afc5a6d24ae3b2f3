"""Quotes as managers see them: the ones waiting for a discount approval, each with its lines,
and the approval or refusal, which reaches the rep's device at its next sync."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.sql.expression import Select

from app.ids import utcnow
from app.models import Account, Quote, QuoteLine
from app.quotes import lines_in_order
from server.audit import read_in_bulk
from server.db import begin_write
from server.deps import CurrentManager, CurrentUser, SessionDep
from server.models import User
from server.scope import account_scope_filter, scope_owner_ids

router = APIRouter(prefix="/api/v1/quotes", tags=["quotes"])

NOT_FOUND = "no such quote in your scope"
#: The most quotes one list answers.
MAX_LIST = 500


class QuoteLinePublic(BaseModel):
    product_id: str | None
    description: str
    quantity: int
    unit_price_amount: int
    discount_bp: int
    tax_rate_bp: int
    net_amount: int


class QuotePublic(BaseModel):
    id: str
    version: int
    account_id: str
    account_name: str
    provisional_number: str
    legal_number: str | None
    status: str
    approval: str | None
    approval_note: str | None
    approved_at: datetime | None
    created_by: str | None  # the rep's user name
    issued_on: date | None
    valid_until: date | None
    currency: str
    discount_bp: int
    net_amount: int
    tax_amount: int
    gross_amount: int
    signed_by: str | None
    signed_at: datetime | None
    lines: list[QuoteLinePublic] = []


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "refuse"]
    note: str | None = Field(default=None, max_length=500)


def _public(session: SessionDep, quote: Quote, account_name: str, rep: str | None, lines: bool) -> QuotePublic:
    found = (
        lines_in_order(quote.id, list(session.exec(select(QuoteLine).where(QuoteLine.quote_id == quote.id))))
        if lines
        else []
    )
    return QuotePublic.model_validate(
        {
            **quote.model_dump(),
            "account_name": account_name,
            "created_by": rep,
            "lines": [QuoteLinePublic.model_validate(line.model_dump()) for line in found],
        }
    )


def _in_scope(session: SessionDep, user: User) -> Select[Quote, str, str]:
    return (
        select(Quote, Account.name, User.username)
        .join(Account, col(Account.id) == col(Quote.account_id))
        .outerjoin(User, col(User.id) == col(Quote.created_by))
        .where(account_scope_filter(scope_owner_ids(session, user)))
    )


@router.get("", response_model=list[QuotePublic])
def list_quotes(
    session: SessionDep,
    user: CurrentUser,
    approval: Annotated[
        Literal["needed", "approved", "refused"] | None, Query(description="only the quotes in this approval state")
    ] = None,
    quote_status: Annotated[
        Literal["draft", "sent", "accepted", "refused", "expired", "ordered"] | None, Query(alias="status")
    ] = None,
) -> list[QuotePublic]:
    """The quotes in one's scope, the newest first (at most 500), without their lines."""
    query = _in_scope(session, user)
    if approval is not None:
        query = query.where(col(Quote.approval) == approval)
    if quote_status is not None:
        query = query.where(col(Quote.status) == quote_status)
    rows = session.exec(query.order_by(col(Quote.id).desc()).limit(MAX_LIST)).all()
    read_in_bulk(session, "quote", len(rows), "list")
    return [_public(session, quote, name, rep, lines=False) for quote, name, rep in rows]


@router.get("/{quote_id}", response_model=QuotePublic)
def read_quote(quote_id: str, session: SessionDep, user: CurrentUser) -> QuotePublic:
    row = session.exec(_in_scope(session, user).where(col(Quote.id) == quote_id)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    quote, name, rep = row
    return _public(session, quote, name, rep, lines=True)


@router.post("/{quote_id}/approval", response_model=QuotePublic)
def decide_approval(quote_id: str, body: ApprovalDecision, session: SessionDep, manager: CurrentManager) -> QuotePublic:
    """Approve or refuse the discount of a quote that waits for it; the rep sees it after sync.
    Not one's own quote's; two managers deciding at once: the first decides, the second is told."""
    begin_write(session)  # SQLite: the write lock first; PostgreSQL: the row lock below
    row = session.exec(_in_scope(session, manager).where(col(Quote.id) == quote_id).with_for_update(of=Quote)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    quote, name, rep = row
    if quote.created_by == manager.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a manager does not approve the discount of their own quote")
    if quote.approval != "needed":
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"this quote does not wait for an approval (approval: {quote.approval})"
        )
    quote.approval = "approved" if body.decision == "approve" else "refused"
    quote.approval_note = body.note
    quote.approved_by = manager.id
    quote.approved_at = utcnow()
    session.add(quote)
    session.commit()
    session.refresh(quote)
    return _public(session, quote, name, rep, lines=True)
