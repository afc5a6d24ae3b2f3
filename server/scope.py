"""Who reaches which accounts: a rep their own, a manager their team's, an admin all."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from app.dashboard import Targets
from app.models import Account
from server.models import Role, User
from sync.wire import UserInfo

__all__ = ["account_scope_filter", "get_account_in_scope", "scope_owner_ids", "scope_targets", "user_info"]


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


def scope_targets(session: Session, user: User) -> Targets:
    """The monthly targets of the user's scope: a rep's own, a manager's team's (theirs and their
    reps', summed), an admin's every active user's. Targets in another currency are left out."""
    owners = scope_owner_ids(session, user)
    query = select(User).where(User.active == sa.true())
    if owners is not None:
        query = query.where(User.id.in_(owners))  # type: ignore[attr-defined]
    members = [u for u in session.exec(query) if u.target_currency == user.target_currency]
    revenue = [u.monthly_revenue_target_amount for u in members if u.monthly_revenue_target_amount is not None]
    orders = [u.monthly_order_target for u in members if u.monthly_order_target is not None]
    return Targets(sum(revenue) if revenue else None, sum(orders) if orders else None, user.target_currency)


def user_info(session: Session, user: User) -> UserInfo:
    """Who signed in, as the device keeps it: with the monthly targets of their scope."""
    targets = scope_targets(session, user)
    return UserInfo(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=user.role,
        monthly_revenue_target_amount=targets.revenue_amount,
        monthly_order_target=targets.orders,
        target_currency=targets.currency,
    )
