"""The pipeline: accounts by lifecycle stage and opportunities by stage, as boards, and the moves
a rep makes on them.

A move is written on the device at once, row and outbox entry together (`app.edits`), so the
board shows it straight away, offline or not. The stage history (`LifecycleStageChange`,
`OpportunityStageChange`, with their dates) is written by the server when the move is pushed
and reaches the device with the next pull; until then the move waiting in the outbox stands in
for it (its date is the moment the rep made it).

Losing an account or an opportunity needs the reason, and the competitor when there is one:
checked here, again by `app.edits` and again by the server (`app.mutations.stage_problem`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from app.card import OpportunityLine
from app.edits import InvalidEdit, create_record, update_record
from app.ids import utcnow
from app.models import (
    Account,
    LifecycleStage,
    LifecycleStageChange,
    Opportunity,
    OpportunityStage,
    OpportunityStageChange,
    table_of,
    utc_day,
)
from sync.state import OutboxEntry

__all__ = [
    "ACCOUNT_STAGES",
    "COLUMN_CARDS",
    "OPEN_OPPORTUNITY_STAGES",
    "OPPORTUNITY_STAGES",
    "AccountCard",
    "AccountColumn",
    "OpportunityCard",
    "OpportunityColumn",
    "StageMove",
    "account_board",
    "move_account",
    "move_opportunity",
    "new_opportunity",
    "opportunity_board",
    "stage_history",
]

#: The board's columns, in the order a customer moves along them.
ACCOUNT_STAGES: tuple[str, ...] = tuple(s.value for s in LifecycleStage)
OPPORTUNITY_STAGES: tuple[str, ...] = tuple(s.value for s in OpportunityStage)
#: Where an opportunity is still being worked on (won and lost close it).
OPEN_OPPORTUNITY_STAGES: tuple[str, ...] = ("qualification", "proposal", "negotiation")
_CLOSED = ("won", "lost")
#: How many cards a column shows; the others are counted ("and 312 more").
COLUMN_CARDS = 50


@dataclass(frozen=True, slots=True)
class AccountCard:
    id: str
    name: str
    town: str | None
    stage: str
    #: Days since the account entered its stage (its latest move there; else since it was made).
    days_in_stage: int


@dataclass(frozen=True, slots=True)
class AccountColumn:
    stage: str
    #: The accounts longest in the stage first (those that wait for the rep), at most COLUMN_CARDS.
    cards: list[AccountCard]
    #: How many more accounts are in the stage than the cards shown.
    more: int = 0

    @property
    def count(self) -> int:
        return len(self.cards) + self.more


@dataclass(frozen=True, slots=True)
class OpportunityCard(OpportunityLine):
    """An opportunity as the customer's card lists it, and which customer's it is."""

    id: str
    account_id: str
    account_name: str


@dataclass(frozen=True, slots=True)
class OpportunityColumn:
    stage: str
    #: Open ones by expected close (soonest first); won and lost ones, the latest closed first.
    cards: list[OpportunityCard]
    more: int = 0
    #: The amounts of every opportunity in the column (shown or not), per currency.
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.cards) + self.more


@dataclass(frozen=True, slots=True)
class StageMove:
    """One move in an account's history: of the account itself, or of one of its opportunities."""

    kind: str  # "account" or "opportunity"
    record_id: str
    #: The opportunity's name (None for the account's own moves).
    name: str | None
    from_stage: str | None
    to_stage: str
    changed_at: datetime
    #: Made on this device and not yet synced: the server's history row comes with the next pull.
    pending: bool = False


def _pending_moves(session: Session, entity: str, stage_field: str) -> dict[str, tuple[str, datetime]]:
    """The latest stage each record was moved to on this device, not yet pushed, with when."""
    o = table_of(OutboxEntry).c
    rows = session.connection().execute(
        sa.select(o.record_id, o.fields, o.created_at)
        .where(o.entity == entity, o.status == "pending", o.op.in_(("create", "update")))
        .order_by(o.mid)
    )
    moves: dict[str, tuple[str, datetime]] = {}
    for record_id, fields, created_at in rows:
        if isinstance(fields, dict) and fields.get(stage_field):
            moves[record_id] = (str(fields[stage_field]), created_at)
    return moves


def account_board(*, session: Session, today: date, limit: int = COLUMN_CARDS) -> list[AccountColumn]:
    """Every account on the device in its lifecycle stage's column, in stage order.

    Days in the stage count from the account's latest move into it (the server's history, or a
    move made here and not yet synced), else from its creation. Read through Core: a manager's
    device holds a team's whole book."""
    a = table_of(Account).c
    ch = table_of(LifecycleStageChange).c
    joined = table_of(Account).outerjoin(
        table_of(LifecycleStageChange), sa.and_(ch.account_id == a.id, ch.to_stage == a.lifecycle_stage)
    )
    rows = (
        session.connection()
        .execute(
            sa.select(
                a.id,
                a.name,
                a.billing_city,
                a.lifecycle_stage,
                utc_day(a.created_at),
                sa.func.max(utc_day(ch.changed_at)),
            )
            .select_from(joined)
            .group_by(a.id, a.name, a.billing_city, a.lifecycle_stage, a.created_at)
        )
        .all()
    )
    pending = _pending_moves(session, "account", "lifecycle_stage")
    by_stage: dict[str, list[tuple[date, str, str, str | None]]] = defaultdict(list)
    for account_id, name, town, stage, created_day, entered_day in rows:
        moved = pending.get(account_id)
        if moved is not None and moved[0] == stage:
            entered = moved[1].astimezone(UTC).date()
        else:
            entered = date.fromisoformat(entered_day or created_day)
        by_stage[stage].append((entered, name, account_id, town))
    columns = []
    for stage in ACCOUNT_STAGES:
        found = sorted(by_stage.get(stage, []))
        cards = [
            AccountCard(account_id, name, town, stage, max(0, (today - entered).days))
            for entered, name, account_id, town in found[:limit]
        ]
        columns.append(AccountColumn(stage, cards, max(0, len(found) - limit)))
    return columns


#: The columns of an opportunity a card shows, as `app.card` reads them.
_LINE_FIELDS = tuple(OpportunityLine.__dataclass_fields__)


def _card_order(card: OpportunityCard) -> tuple[Any, ...]:
    if card.stage in _CLOSED:
        closed = card.closed_at.timestamp() if card.closed_at is not None else 0.0
        return (-closed, card.name)
    return (card.expected_close or date.max, card.name)


def opportunity_board(*, session: Session, limit: int = COLUMN_CARDS) -> list[OpportunityColumn]:
    """Every opportunity on the device in its stage's column, with each column's total amount
    per currency."""
    o = table_of(Opportunity).c
    a = table_of(Account).c
    rows = (
        session.connection()
        .execute(
            sa.select(
                *(o[name] for name in _LINE_FIELDS), o.id, o.account_id, a.name.label("account_name")
            ).select_from(table_of(Opportunity).join(table_of(Account), a.id == o.account_id))
        )
        .all()
    )
    by_stage: dict[str, list[OpportunityCard]] = defaultdict(list)
    for row in rows:
        card = OpportunityCard(**row._asdict())
        by_stage[card.stage].append(card)
    columns = []
    for stage in OPPORTUNITY_STAGES:
        found = sorted(by_stage.get(stage, []), key=_card_order)
        totals: dict[str, int] = defaultdict(int)
        for card in found:
            totals[card.currency] += card.amount
        columns.append(
            OpportunityColumn(stage, found[:limit], max(0, len(found) - limit), dict(sorted(totals.items())))
        )
    return columns


def _stage(value: str, stages: tuple[str, ...], field_name: str) -> str:
    if value not in stages:
        raise InvalidEdit(f"{field_name}: {value!r} is not one of {', '.join(stages)}")
    return value


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def _why_lost(lost_reason: str | None, competitor: str | None) -> dict[str, Any]:
    """The changes of a loss: the reason, always (an old reason from an earlier loss does not
    explain this one; none at all is refused), and the competitor when one is named."""
    named = _text(competitor)
    return {"lost_reason": _text(lost_reason), **({"competitor": named} if named else {})}


def move_account(
    *,
    session: Session,
    account_id: str,
    stage: str,
    lost_reason: str | None = None,
    competitor: str | None = None,
) -> Account:
    """Move the account to `stage`. To "lost", with the reason (required) and the competitor it
    went to (optional; it becomes the account's current competitor). Shown on the device at
    once; the server records the move in the account's history when it is pushed."""
    target = _stage(stage, ACCOUNT_STAGES, "lifecycle_stage")
    account = session.get(Account, account_id)
    if account is None:
        raise InvalidEdit(f"no account {account_id} on this device")
    changes: dict[str, Any] = {"lifecycle_stage": target}
    if target == "lost":
        changes |= _why_lost(lost_reason, competitor)
    elif account.lifecycle_stage == target:
        return account
    moved: Account = update_record(session=session, entity="account", record_id=account_id, changes=changes)  # type: ignore[assignment]
    return moved


def move_opportunity(
    *,
    session: Session,
    opportunity_id: str,
    stage: str,
    lost_reason: str | None = None,
    competitor: str | None = None,
    at: datetime | None = None,
) -> Opportunity:
    """Move the opportunity to `stage`. Won or lost closes it (`closed_at`, `at` or now, and a
    probability of 100 or 0); lost needs the reason (and names the competitor, if any); back to
    an open stage reopens it. Shown on the device at once; the server records the move in the
    opportunity's history when it is pushed (dated by `closed_at` for a close)."""
    target = _stage(stage, OPPORTUNITY_STAGES, "stage")
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None:
        raise InvalidEdit(f"no opportunity {opportunity_id} on this device")
    if opportunity.stage == target and target != "lost":
        return opportunity
    changes: dict[str, Any] = {"stage": target}
    if target in _CLOSED:
        if opportunity.stage != target or opportunity.closed_at is None:
            changes["closed_at"] = at or utcnow()
        changes["probability_pct"] = 100 if target == "won" else 0
    elif opportunity.closed_at is not None:
        changes["closed_at"] = None  # reopened
    if target == "lost":
        changes |= _why_lost(lost_reason, competitor)
    elif opportunity.lost_reason is not None:
        changes["lost_reason"] = None
    moved: Opportunity = update_record(session=session, entity="opportunity", record_id=opportunity_id, changes=changes)  # type: ignore[assignment]
    return moved


def new_opportunity(
    *,
    session: Session,
    account_id: str,
    name: str,
    amount: int = 0,
    currency: str = "EUR",
    probability_pct: int = 10,
    expected_close: date | None = None,
    stage: str = "qualification",
    owner_id: str | None = None,
) -> Opportunity:
    """A new opportunity of the account, in an open stage (it is won or lost by a move, which
    dates its close); `amount` in minor units. The server records its creation in its history."""
    _stage(stage, OPEN_OPPORTUNITY_STAGES, "stage")
    fields: dict[str, Any] = {
        "account_id": account_id,
        "name": (name or "").strip(),
        "stage": stage,
        "amount": amount,
        "currency": currency,
        "probability_pct": probability_pct,
        "expected_close": expected_close,
    }
    made: Opportunity = create_record(session=session, entity="opportunity", fields=fields, author_id=owner_id)  # type: ignore[assignment]
    return made


def stage_history(*, session: Session, account_id: str) -> list[StageMove]:
    """The account's moves and its opportunities' moves, oldest first, with their dates. The
    rows come from the server (written when a move is pushed); moves made here and not yet
    synced are listed too, marked pending, dated when the rep made them."""
    conn = session.connection()
    lc = table_of(LifecycleStageChange).c
    oc = table_of(OpportunityStageChange).c
    o = table_of(Opportunity).c
    moves = [
        StageMove("account", account_id, None, from_stage, to_stage, changed_at)
        for from_stage, to_stage, changed_at in conn.execute(
            sa.select(lc.from_stage, lc.to_stage, lc.changed_at).where(lc.account_id == account_id)
        )
    ]
    names = dict(conn.execute(sa.select(o.id, o.name).where(o.account_id == account_id)).all())
    moves += [
        StageMove("opportunity", opportunity_id, names.get(opportunity_id), from_stage, to_stage, changed_at)
        for opportunity_id, from_stage, to_stage, changed_at in conn.execute(
            sa.select(oc.opportunity_id, oc.from_stage, oc.to_stage, oc.changed_at).where(oc.account_id == account_id)
        )
    ]
    if (moved := _pending_moves(session, "account", "lifecycle_stage").get(account_id)) is not None:
        moves.append(StageMove("account", account_id, None, None, moved[0], moved[1], pending=True))
    for opportunity_id, (to_stage, when) in _pending_moves(session, "opportunity", "stage").items():
        if opportunity_id in names:
            moves.append(StageMove("opportunity", opportunity_id, names[opportunity_id], None, to_stage, when, True))
    return sorted(moves, key=lambda m: (m.changed_at, m.pending))
