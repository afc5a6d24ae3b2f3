"""Merge proposals: two accounts that look like one company (found when a device's lead reached
the server), listed for managers, who merge them or say they differ; reps see the ones touching
their own accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from app.models import Account, Activity, Contact
from server.db import begin_write
from server.deps import CurrentManager, CurrentUser, SessionDep
from server.merges import MergeRefused, dismiss_proposal, merge_accounts
from server.models import MergeProposal, Role, User
from server.scope import scope_owner_ids

router = APIRouter(prefix="/api/v1/merges", tags=["merges"])

NOT_FOUND = "no such merge proposal in your scope"
#: The most proposals one list answers.
MAX_LIST = 500


class MergeSide(BaseModel):
    """One of the two accounts, as a manager compares them."""

    id: str
    name: str
    owner: str | None  # the owner's user name
    lifecycle_stage: str
    origin: str | None
    origin_campaign_id: str | None
    created_at: datetime
    contacts: int
    activities: int


class MergeProposalPublic(BaseModel):
    id: str
    status: str
    #: Why they look like one company, strongest first: siren, email, phone, domain, name.
    reasons: list[str]
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None  # the manager's user name
    #: The account kept by a merge (the older one unless the manager chose the other).
    account: MergeSide
    #: The account merged into it; None once merged (it no longer exists).
    duplicate: MergeSide | None
    #: After a merge: the records moved to the kept account, by entity.
    moved: dict[str, int] | None = None


class MergeDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["merge", "dismiss"]
    #: Which of the two accounts to keep (its id); by default the proposal's, the older one.
    keep: str | None = Field(default=None, max_length=36)


_kept = aliased(Account, name="kept")
_duplicate = aliased(Account, name="duplicate")


def _visible(session: Session, user: User) -> Any:
    """Who sees a proposal: a manager or an admin when both accounts are in their scope (once
    merged, the kept one), a rep when either account is theirs."""
    if user.role == Role.rep:
        return sa.or_(col(_kept.owner_id) == user.id, col(_duplicate.owner_id) == user.id)
    owners = scope_owner_ids(session, user)
    if owners is None:
        return sa.true()
    return sa.and_(
        col(_kept.owner_id).in_(owners), sa.or_(col(_duplicate.id).is_(None), col(_duplicate.owner_id).in_(owners))
    )


def _query(session: Session, user: User) -> Any:
    return (
        select(MergeProposal, _kept, _duplicate)
        .join(_kept, col(_kept.id) == col(MergeProposal.account_id))
        .outerjoin(_duplicate, col(_duplicate.id) == col(MergeProposal.duplicate_id))
        .where(_visible(session, user))
    )


def _counts(session: Session, model: type[Contact] | type[Activity], account_ids: list[str]) -> dict[str, int]:
    if not account_ids:
        return {}
    rows = session.exec(
        select(model.account_id, func.count()).where(col(model.account_id).in_(account_ids)).group_by(model.account_id)
    ).all()
    return {account_id: int(n) for account_id, n in rows}


def _public(
    session: Session, rows: list[tuple[MergeProposal, Account, Account | None]], moved: dict[str, int] | None = None
) -> list[MergeProposalPublic]:
    accounts = {a.id: a for _, kept, duplicate in rows for a in (kept, duplicate) if a is not None}
    ids = sorted(accounts)
    contacts, activities = _counts(session, Contact, ids), _counts(session, Activity, ids)
    user_ids = {a.owner_id for a in accounts.values() if a.owner_id} | {
        p.decided_by for p, _, _ in rows if p.decided_by
    }
    names = dict(session.exec(select(User.id, User.username).where(col(User.id).in_(sorted(user_ids)))).all())

    def side(account: Account) -> MergeSide:
        return MergeSide(
            id=account.id,
            name=account.name,
            owner=names.get(account.owner_id or ""),
            lifecycle_stage=account.lifecycle_stage,
            origin=account.origin,
            origin_campaign_id=account.origin_campaign_id,
            created_at=account.created_at,
            contacts=contacts.get(account.id, 0),
            activities=activities.get(account.id, 0),
        )

    return [
        MergeProposalPublic(
            id=proposal.id,
            status=proposal.status,
            reasons=proposal.reasons,
            created_at=proposal.created_at,
            decided_at=proposal.decided_at,
            decided_by=names.get(proposal.decided_by or ""),
            account=side(kept),
            duplicate=side(duplicate) if duplicate is not None else None,
            moved=moved,
        )
        for proposal, kept, duplicate in rows
    ]


@router.get("", response_model=list[MergeProposalPublic])
def list_merges(
    session: SessionDep,
    user: CurrentUser,
    proposal_status: Annotated[
        Literal["open", "merged", "dismissed"], Query(alias="status", description="open (default), merged, dismissed")
    ] = "open",
) -> list[MergeProposalPublic]:
    """The merge proposals in one's scope, the newest first (at most 500)."""
    query = _query(session, user).where(col(MergeProposal.status) == proposal_status)
    rows = session.exec(query.order_by(col(MergeProposal.created_at).desc(), col(MergeProposal.id)).limit(MAX_LIST))
    return _public(session, [tuple(r) for r in rows.all()])


@router.post("/{proposal_id}", response_model=MergeProposalPublic)
def decide_merge(
    proposal_id: str, body: MergeDecision, session: SessionDep, manager: CurrentManager
) -> MergeProposalPublic:
    """Merge the two accounts (everything of one moves to the other, which the reps' devices
    receive at their next sync; the other disappears from its rep's devices) or dismiss the
    proposal (the two are never proposed again)."""
    begin_write(session)  # SQLite: the write lock first; PostgreSQL: the row lock below
    row = session.exec(
        _query(session, manager).where(col(MergeProposal.id) == proposal_id).with_for_update(of=MergeProposal)
    ).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    proposal, kept, duplicate = row
    if proposal.status != "open":
        by = session.get(User, proposal.decided_by) if proposal.decided_by else None
        when = proposal.decided_at.strftime("%Y-%m-%d %H:%M UTC") if proposal.decided_at else "earlier"
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"this proposal was already {proposal.status} by {by.username if by else 'someone'} on {when}",
        )
    if body.action == "merge" and duplicate is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "one of the two accounts no longer exists: dismiss this proposal instead"
        )
    if body.action == "merge" and duplicate is not None and body.keep not in (None, kept.id, duplicate.id):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"keep: {body.keep!r} is not one of the two accounts of this proposal"
            f" ({kept.id} {kept.name!r} or {duplicate.id} {duplicate.name!r})",
        )
    moved: dict[str, int] | None = None
    try:
        if body.action == "merge":
            outcome = merge_accounts(session, proposal, manager.id, keep=body.keep)
            kept, moved = outcome.kept, outcome.moved
        else:
            dismiss_proposal(proposal, manager.id)
    except MergeRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    session.commit()
    return _public(session, [(proposal, kept, None if body.action == "merge" else duplicate)], moved)[0]
