"""Push: apply a device's mutations, each at most once, each with its own answer.

Every mutation runs in its own savepoint: a rejected one (with a reason a person can read)
never holds up those behind it. Its answer is stored in `processed_mutation` in the same
transaction as its effects, so a push retried after a lost response is answered again from
there and never applied twice. Accounts and contacts merge field by field against the
device's base version: a field changed on the server since then keeps the server's value and
comes back as a conflict for the rep to settle.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, col, select

from app.models import (
    Account,
    AccountCreate,
    AccountUpdate,
    Activity,
    ActivityCreate,
    Contact,
    ContactCreate,
    ContactUpdate,
    LifecycleStageChange,
    Record,
    blank_required_field,
)
from server.db import DEVICE, savepoint
from server.models import FieldChange, ProcessedMutation, Role, User
from server.scope import get_account_in_scope
from sync.wire import FieldConflict, Mutation, MutationResult, PushRequest, PushResponse

__all__ = ["apply_push"]


class Rejected(Exception):
    """The mutation cannot be applied; the message is shown to the rep as it is."""


_MERGED: dict[str, tuple[type[Record], type[SQLModel], type[SQLModel]]] = {
    "account": (Account, AccountCreate, AccountUpdate),
    "contact": (Contact, ContactCreate, ContactUpdate),
}


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "fields"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Rejected(_validation_reason(exc)) from exc


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _create(session: Session, user: User, mutation: Mutation) -> MutationResult:
    if mutation.entity == "activity":
        activity = _validated(ActivityCreate, mutation.fields)
        if get_account_in_scope(session, user, activity.account_id) is None:
            raise Rejected("this customer is not (or no longer) yours")
        if session.get(Activity, mutation.id) is not None:
            raise Rejected("this activity was already recorded")
        session.add(Activity(id=mutation.id, author_id=user.id, **activity.model_dump()))
        return MutationResult(mid=mutation.mid, status="applied", version=1)
    if mutation.entity not in _MERGED:
        raise Rejected(f"{mutation.entity} records cannot be created from a device")
    table_model, create_model, _ = _MERGED[mutation.entity]
    data = {**mutation.fields, "id": mutation.id}
    if mutation.entity == "account" and user.role == Role.rep:
        if data.setdefault("owner_id", user.id) != user.id:
            raise Rejected("a rep creates accounts for themselves")
    body = _validated(create_model, data)
    if session.get(table_model, mutation.id) is not None:
        raise Rejected(f"a {mutation.entity} with id {mutation.id} already exists")
    if isinstance(body, ContactCreate) and get_account_in_scope(session, user, body.account_id) is None:
        raise Rejected("this customer is not (or no longer) yours")
    record = table_model.model_validate(body.model_dump(exclude_none=True))
    session.add(record)
    if isinstance(record, Account):
        session.add(LifecycleStageChange(account_id=record.id, to_stage=record.lifecycle_stage, changed_by=user.id))
    return MutationResult(mid=mutation.mid, status="applied", version=1)


def _update(session: Session, user: User, mutation: Mutation) -> MutationResult:
    if mutation.entity not in _MERGED:
        raise Rejected(f"{mutation.entity} records cannot be changed from a device")
    if mutation.base_version is None:
        raise Rejected("an update needs the version it was made on (base_version)")
    table_model, _, update_model = _MERGED[mutation.entity]
    record = session.get(table_model, mutation.id)
    account_id = getattr(record, "account_id", None) or getattr(record, "id", "")
    if record is None or get_account_in_scope(session, user, str(account_id)) is None:
        raise Rejected(f"this {mutation.entity} was deleted, or is no longer yours")
    changes = _validated(update_model, mutation.fields).model_dump(exclude_unset=True)
    if (blank := blank_required_field(table_model, changes)) is not None:
        raise Rejected(f"{blank} cannot be empty")
    # Fields someone else changed after the version this edit was made on; this device's own
    # earlier edits (pushed, not yet pulled back) are no conflict.
    changed_elsewhere = set(
        session.exec(
            select(FieldChange.field).where(
                FieldChange.entity == mutation.entity,
                FieldChange.row_id == mutation.id,
                col(FieldChange.field).in_(list(changes)),
                FieldChange.version > mutation.base_version,
                sa.or_(col(FieldChange.device_id).is_(None), col(FieldChange.device_id) != session.info.get(DEVICE)),
            )
        ).all()
    )
    conflicts: list[FieldConflict] = []
    applied: dict[str, Any] = {}
    for name, value in changes.items():
        current = getattr(record, name)
        if current == value:
            continue
        if name in changed_elsewhere:
            conflicts.append(FieldConflict(field=name, server_value=_jsonable(current), device_value=_jsonable(value)))
        else:
            applied[name] = value
    if applied:
        old_stage = getattr(record, "lifecycle_stage", None)
        record.sqlmodel_update(applied)
        if isinstance(record, Account) and record.lifecycle_stage != old_stage:
            session.add(
                LifecycleStageChange(
                    account_id=record.id, from_stage=old_stage, to_stage=record.lifecycle_stage, changed_by=user.id
                )
            )
        session.flush()
    status = "conflict" if conflicts else "applied"
    return MutationResult(mid=mutation.mid, status=status, version=record.version, conflicts=conflicts)


def _apply(session: Session, user: User, mutation: Mutation) -> MutationResult:
    if mutation.op == "create":
        return _create(session, user, mutation)
    if mutation.entity == "activity":
        raise Rejected("an activity cannot be changed once written: add a new one")
    return _update(session, user, mutation)


def apply_push(*, session: Session, user: User, device_id: str, push: PushRequest) -> PushResponse:
    mids = [m.mid for m in push.mutations]
    done = {
        p.mid: p
        for p in session.exec(
            select(ProcessedMutation).where(
                ProcessedMutation.device_id == device_id, col(ProcessedMutation.mid).in_(mids)
            )
        )
    }
    results: list[MutationResult] = []
    for mutation in sorted(push.mutations, key=lambda m: m.mid):
        previous = done.get(mutation.mid)
        if previous is not None:
            results.append(
                MutationResult(
                    mid=previous.mid,
                    status=previous.status,
                    reason=previous.reason,
                    version=previous.version,
                    conflicts=[FieldConflict.model_validate(c) for c in previous.conflicts],
                )
            )
            continue
        try:
            with savepoint(session):
                result = _apply(session, user, mutation)
                session.flush()
        except Rejected as exc:
            result = MutationResult(mid=mutation.mid, status="rejected", reason=str(exc))
        except SQLAlchemyError:  # a database refusal (a constraint) rejects this one mutation only
            result = MutationResult(
                mid=mutation.mid, status="rejected", reason="the server could not store this change"
            )
        done[mutation.mid] = ProcessedMutation(
            device_id=device_id,
            mid=mutation.mid,
            status=result.status,
            reason=result.reason,
            version=result.version,
            conflicts=[c.model_dump(mode="json") for c in result.conflicts],
        )
        session.add(done[mutation.mid])
        results.append(result)
    session.commit()
    return PushResponse(results=results)
