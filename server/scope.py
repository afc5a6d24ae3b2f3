"""Who reaches which accounts: a rep their own, a manager their team's, an admin all."""

from __future__ import annotations

from collections import Counter
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
    """The monthly targets of the user's book. A rep's are their own. A manager's are their own
    when they have one (the team's quota), else their reps' summed; an admin's, every active
    rep's summed. A sum is made in one currency: the user's own target's, else the one most of
    the reps' revenue targets are in; targets in another currency are left out."""
    own = Targets(user.monthly_revenue_target_amount, user.monthly_order_target, user.target_currency)
    if user.role == Role.rep or own.revenue_amount is not None or own.orders is not None:
        return own
    reps = select(User).where(User.active == sa.true(), User.role == Role.rep)
    if user.role == Role.manager:
        reps = reps.where(User.manager_id == user.id)
    members = list(session.exec(reps))
    currencies = Counter(u.target_currency for u in members if u.monthly_revenue_target_amount is not None)
    currency = currencies.most_common(1)[0][0] if currencies else user.target_currency
    revenue = [
        u.monthly_revenue_target_amount
        for u in members
        if u.monthly_revenue_target_amount is not None and u.target_currency == currency
    ]
    orders = [u.monthly_order_target for u in members if u.monthly_order_target is not None]
    return Targets(sum(revenue) if revenue else None, sum(orders) if orders else None, currency)


def user_info(session: Session, user: User, quote_approval_discount_bp: int | None = None) -> UserInfo:
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
        quote_approval_discount_bp=quote_approval_discount_bp,
    )
