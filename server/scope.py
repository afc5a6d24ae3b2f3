"""Who reaches which accounts: a rep their own, a manager their team's, an admin all."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from app.models import Account
from server.models import Role, User

__all__ = ["account_scope_filter", "get_account_in_scope", "scope_owner_ids"]


def scope_owner_ids(session: Session, user: User) -> list[str] | None:
    """The owners whose accounts the user reaches; None means every account (admin)."""
    if user.role == Role.admin:
        return None
    if user.role == Role.manager:
        team = session.exec(select(User.id).where(User.manager_id == user.id)).all()
        return [user.id, *team]
    return [user.id]


def account_scope_filter(owner_ids: list[str] | None) -> Any:
    """A WHERE clause on Account for the given scope."""
    if owner_ids is None:
        return sa.true()
    return Account.owner_id.in_(owner_ids)  # type: ignore[union-attr]


def get_account_in_scope(session: Session, user: User, account_id: str) -> Account | None:
    account = session.get(Account, account_id)
    if account is None:
        return None
    owners = scope_owner_ids(session, user)
    if owners is not None and account.owner_id not in owners:
        return None
    return account
