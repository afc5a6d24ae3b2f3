"""Push: apply a device's mutations, each at most once, each with its own answer.

A rejected mutation (with a reason a person can read) never holds up those behind it: a push
with one is applied again, each mutation in its own savepoint (`apply_push`). Each answer is
stored in `processed_mutation` in the same transaction as the effects, so a push retried after
a lost response is answered again from there and never applied twice. Accounts and contacts
merge field by field against the device's base version: a field changed on the server since
then keeps the server's value and comes back as a conflict for the rep to settle.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from app.ids import utcnow
from app.models import (
    ENTITIES,
    Account,
    Contact,
    LifecycleStageChange,
    Opportunity,
    OpportunityStageChange,
    Quote,
    QuoteLine,
    Record,
    Reminder,
    Visit,
    blank_required_field,
    table_of,
)
from app.money import format_money
from app.mutations import (
    AUTHOR_FIELD,
    CREATES,
    MERGED,
    REPORT_FIELDS,
    UNOWNED_CREATES,
    VERSIONED,
    CampaignCreate,
    EmailCreate,
    OrderCommand,
    QuoteCreate,
    priced_document,
    stage_problem,
)
from app.pricing import PricingError
from app.quotes import discount_share_bp, lines_in_order, quote_change_problem
from server.db import DEVICE, begin_write, chunks, step
from server.merges import (
    find_duplicates,
    identity_account,
    merged_away_after_pull,
    named_account,
    redirect_merged,
)
from server.models import ChangeLog, Device, FieldChange, ProcessedMutation, Role, User
from server.nul import REFUSED as NUL_REFUSED
from server.nul import nul_at
from server.numbering import legal_quote_number
from server.pull import wire_row
from server.scope import scope_owner_ids
from sync.wire import FieldConflict, Mutation, MutationResult, PushRequest, PushResponse

#: A quote with discounts above this share of its prices (basis points) waits for approval.
DEFAULT_APPROVAL_BP = 1500
#: A provisional quote number: P, the device's number, a dash, the device's own count.
PROVISIONAL = re.compile(r"P(\d{1,9})-(\d{1,9})")
#: How far back a quote made offline may be dated and still keep its day's prices.
QUOTE_BACKDATE_DAYS = 90

__all__ = ["apply_push"]


class Rejected(Exception):
    """The mutation cannot be applied; the message is shown to the rep as it is."""


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "fields"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    if (where := nul_at(data)) is not None:  # the edge lets a push's fields through (server/nul.py)
        raise Rejected(f"{'.'.join(str(p) for p in where)}: {NUL_REFUSED}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Rejected(_validation_reason(exc)) from exc


#: Entities a device may delete; a delete leaves a tombstone every other device applies.
_DELETABLE: dict[str, type[Record]] = {"contact": Contact}


class _Context:
    """Who pushes, and how far their device had pulled when it made these changes; with what
    the push's mutations read, read once for all of them (`read_ahead`)."""

    def __init__(
        self, session: Session, user: User, pulled_through: int | None, approval_bp: int = DEFAULT_APPROVAL_BP
    ) -> None:
        self.session, self.user, self.pulled_through = session, user, pulled_through
        self.approval_bp = approval_bp
        self._owners: list[str] | None | bool = False
        #: Accounts the push's mutations name that exist (read once, before the first).
        self.existing: set[str] = set()
        #: The records the push changes and their accounts, read at once and held here, so that
        #: each mutation finds its own in the session instead of reading it.
        self.held: list[Record] = []
        #: Field changes of the records the push's updates change, read once: (entity, id) ->
        #: [(field, version, device)]. A record not in it (a redirected change) is read alone.
        self.field_log: dict[tuple[str, str], list[tuple[str, int, str | None]]] = {}

    def read_ahead(self, mutations: list[Mutation]) -> None:
        """Read at once what every mutation would otherwise read on its own."""
        wanted: dict[str, set[str]] = {}
        for m in mutations:
            if m.op != "create" and m.entity in ENTITIES:
                wanted.setdefault(m.entity, set()).add(m.id)
        for entity, ids in wanted.items():
            self.held += _read_records(self.session, ENTITIES[entity], ids)
        accounts = {a for a in map(named_account, mutations) if a is not None}
        accounts |= {a for r in self.held if isinstance(a := getattr(r, "account_id", None), str)}
        accounts -= {r.id for r in self.held if isinstance(r, Account)}
        self.held += _read_records(self.session, Account, accounts)
        self.existing = {r.id for r in self.held if isinstance(r, Account)}
        merged = {(m.entity, m.id) for m in mutations if m.op == "update" and m.entity in MERGED}
        self.field_log = _field_log(self.session, merged)

    def changed_elsewhere(self, entity: str, row_id: str, base_version: int, fields: list[str]) -> set[str]:
        """Fields someone else changed after the version this edit was made on; this device's own
        earlier edits (pushed, not yet pulled back) are no conflict."""
        key = (entity, row_id)
        log = self.field_log[key] if key in self.field_log else _field_log(self.session, {key})[key]
        device = self.session.info.get(DEVICE)
        return {f for f, version, by in log if f in fields and version > base_version and (by is None or by != device)}

    def owners(self) -> list[str] | None:
        if self._owners is False:
            self._owners = scope_owner_ids(self.session, self.user)
        return self._owners  # type: ignore[return-value]

    def in_scope(self, account_id: str) -> bool:
        """Whether the account is in the user's scope now (the owners are read once per push)."""
        account = self.session.get(Account, account_id)
        owners = self.owners()
        return account is not None and (owners is None or account.owner_id in owners)

    def reaches(self, account_id: str | None) -> bool:
        """Whether the user may change records of this account.

        An account is reachable while it is in the user's scope, and also when it left it after
        the device's last pull: the device still showed it as the rep's when the edit was made,
        so the edit stands (DESIGN: pending edits to a reassigned account are pushed, and the
        server decides). Once the device has pulled the purge, it can no longer edit it.
        """
        if not account_id:
            return False
        if self.in_scope(account_id):
            return True
        owners = self.owners()
        if self.pulled_through is None or owners is None:
            return False
        left_after_pull = self.session.exec(
            select(ChangeLog.seq)
            .where(
                ChangeLog.op == "purge",
                ChangeLog.account_id == account_id,
                col(ChangeLog.owner_id).in_(owners),
                col(ChangeLog.seq) > self.pulled_through,
            )
            .limit(1)
        ).first()
        # Or the rep's account was merged into this one after that pull (`server.merges`).
        return left_after_pull is not None or merged_away_after_pull(
            self.session, account_id, owners, self.pulled_through
        )


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _same_rule_reminder(existing: Any, body: Any, user: User) -> bool:
    return (
        isinstance(existing, Reminder)
        and existing.rule is not None
        and existing.owner_id == user.id
        and (existing.account_id, existing.rule) == (body.account_id, body.rule)
    )


def _create(ctx: _Context, mutation: Mutation) -> MutationResult:
    session, user = ctx.session, ctx.user
    if mutation.entity not in CREATES:
        raise Rejected(f"{mutation.entity} records cannot be created from a device")
    table_model, create_model = CREATES[mutation.entity]
    data = {**mutation.fields}
    if mutation.entity in ("account", "contact"):
        data["id"] = mutation.id
    if mutation.entity == "account" and user.role == Role.rep:
        if data.setdefault("owner_id", user.id) != user.id:
            raise Rejected("a rep creates accounts for themselves")
    body = _validated(create_model, data)
    if isinstance(body, CampaignCreate) and user.role == Role.rep and body.channel != "trade_fair":
        raise Rejected("a rep opens events (channel trade_fair); campaigns are made on the server")
    existing = session.get(table_model, mutation.id)
    if existing is not None:
        if _same_rule_reminder(existing, body, user):
            # Two devices of the rep made the same rule's reminder (its id says what it is
            # about): it is one reminder, recorded once; the device gets the server's at its pull.
            return MutationResult(mid=mutation.mid, status="applied", version=existing.version)
        raise Rejected(f"this {mutation.entity} was already recorded")
    account_id = getattr(body, "account_id", None)
    if mutation.entity not in ("account", *UNOWNED_CREATES) and not ctx.reaches(account_id):
        raise Rejected("this customer is not (or no longer) yours")
    contact_id = getattr(body, "contact_id", None)
    if contact_id is not None and mutation.entity != "contact":
        contact = session.get(Contact, contact_id)
        if contact is None or contact.account_id != account_id:
            raise Rejected("the person named is not (or no longer) a contact of this customer")
    if isinstance(body, EmailCreate):
        _check_recipient(session, body)
    values = body.model_dump(exclude_none=True, exclude={"lines", "expected_gross_amount"})
    values["id"] = mutation.id
    if mutation.entity in AUTHOR_FIELD:
        values[AUTHOR_FIELD[mutation.entity]] = user.id
    if isinstance(body, QuoteCreate | OrderCommand):
        return _priced(ctx, mutation, body, values)
    record = table_model.model_validate(values)
    if (problem := stage_problem(record)) is not None:
        raise Rejected(problem)
    session.add(record)
    if isinstance(record, Account):
        session.add(LifecycleStageChange(account_id=record.id, to_stage=record.lifecycle_stage, changed_by=user.id))
    if isinstance(record, Opportunity):
        session.flush()
        session.add(
            OpportunityStageChange(
                account_id=record.account_id, opportunity_id=record.id, to_stage=record.stage, changed_by=user.id
            )
        )
    return MutationResult(mid=mutation.mid, status="applied", version=1)


def _address_key(address: str) -> str:
    """An e-mail address as compared: normalised (an IDNA domain in Unicode), whatever its case."""
    try:
        address = validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        pass
    return address.strip().lower()


def _check_recipient(session: Session, email: EmailCreate) -> None:
    """The server's SMTP settings send the reps' e-mails to their customers only, never to any
    address a device names: the recipient is the named person's address, or (no person named)
    the customer's own or one of its people's."""
    if email.contact_id is not None:
        contact = session.get(Contact, email.contact_id)
        known = [contact.email if contact is not None else None]
    else:
        account = session.get(Account, email.account_id)
        people = session.exec(select(Contact.email).where(Contact.account_id == email.account_id)).all()
        known = [account.email if account is not None else None, *people]
    if _address_key(email.to_address) not in {_address_key(a) for a in known if a}:
        whose = "this person's" if email.contact_id is not None else "one of this customer's"
        raise Rejected(
            f"to_address: {email.to_address} is not {whose} e-mail address: write the address on the customer's"
            " record first"
        )


def _check_provisional_number(session: Session, number: str) -> None:
    """A provisional number is the device's own (`P<device number>-<its count>`): no other
    device can have made it."""
    device = session.get(Device, session.info.get(DEVICE))
    found = PROVISIONAL.fullmatch(number)
    if device is not None and device.number is not None and (found is None or int(found[1]) != device.number):
        raise Rejected(
            f"provisional_number: {number!r} is not one of this device's (P{device.number}-...): update the app"
        )


def _priced(
    ctx: _Context, mutation: Mutation, body: QuoteCreate | OrderCommand, values: dict[str, Any]
) -> MutationResult:
    """A quote or an order, priced with the server's own catalogue: a quote as of the day it was
    made (a quote made offline keeps that day's prices), an order with today's."""
    today = utcnow().date()
    if isinstance(body, QuoteCreate):
        _check_provisional_number(ctx.session, body.provisional_number)
    if isinstance(body, QuoteCreate) and body.issued_on is not None:
        if not today - timedelta(days=QUOTE_BACKDATE_DAYS) <= body.issued_on <= today + timedelta(days=1):
            raise Rejected(
                f"issued_on: {body.issued_on} is more than {QUOTE_BACKDATE_DAYS} days from today:"
                " make the quote again with today's prices"
            )
        day = body.issued_on
    else:
        day = today
    try:
        record, lines = priced_document(ctx.session, mutation.entity, values, body, day)
    except PricingError as exc:
        raise Rejected(str(exc)) from exc
    total = record.gross_amount  # type: ignore[attr-defined]
    if isinstance(body, QuoteCreate) and body.expected_gross_amount not in (None, total):
        raise Rejected(
            f"prices changed: this quote comes to {format_money(total, body.currency, 'en')} with the prices of"
            f" {day.isoformat()}, not {format_money(body.expected_gross_amount, body.currency, 'en')}:"
            " make it again with the customer"
        )
    if isinstance(body, OrderCommand) and total != body.expected_gross_amount:
        raise Rejected(
            f"prices changed: this order comes to {format_money(total, body.currency, 'en')} with today's prices,"
            f" not {format_money(body.expected_gross_amount, body.currency, 'en')}:"
            " check it with the customer and place it again"
        )
    if isinstance(body, OrderCommand) and body.quote_id is not None:
        quote = ctx.session.get(Quote, body.quote_id)
        if quote is None or quote.account_id != body.account_id:
            raise Rejected("quote_id: no such quote for this customer")
        if quote.status != "accepted":
            raise Rejected(f"this quote is {quote.status}: only an accepted quote becomes an order")
        quoted = lines_in_order(
            quote.id, list(ctx.session.exec(select(QuoteLine).where(QuoteLine.quote_id == quote.id)))
        )
        asked = [(x.product_id, x.quantity, x.discount_bp) for x in body.lines]
        if (
            asked != [(x.product_id, x.quantity, x.discount_bp) for x in quoted]
            or body.discount_bp != quote.discount_bp
        ):
            raise Rejected("the order's lines or discounts are not those of the quote it names")
        quote.status = "ordered"
    if isinstance(record, Quote):
        if discount_share_bp(record, lines) > ctx.approval_bp:
            record.approval = "needed"
        # The legal number, in the year's sequence: given here, within this mutation (its
        # savepoint, or the whole push undone), so a quote refused after this point gives its
        # number back.
        record.legal_number = legal_quote_number(ctx.session, day.year)  # the year it was made
    ctx.session.add(record)
    ctx.session.flush()
    ctx.session.add_all(lines)
    return MutationResult(mid=mutation.mid, status="applied", version=1)


def _update(ctx: _Context, mutation: Mutation) -> MutationResult:
    session, user = ctx.session, ctx.user
    merged = mutation.entity in MERGED
    if not merged and mutation.entity not in VERSIONED:
        raise Rejected(f"{mutation.entity} records cannot be changed from a device")
    if mutation.base_version is None:
        raise Rejected("an update needs the version it was made on (base_version)")
    table_model, update_model = MERGED[mutation.entity] if merged else VERSIONED[mutation.entity]
    record = session.get(table_model, mutation.id)
    if record is None:
        raise Rejected(f"this {mutation.entity} was deleted in the meantime")
    if not ctx.reaches(getattr(record, "account_id", None) or record.id):
        raise Rejected(f"this {mutation.entity} is no longer yours")
    changes = _validated(update_model, mutation.fields).model_dump(exclude_unset=True)
    if (blank := blank_required_field(table_model, changes)) is not None:
        raise Rejected(f"{blank} cannot be empty")
    if not merged and record.version != mutation.base_version:
        raise Rejected(
            f"this {mutation.entity} changed on the server since you opened it: review it and make your change again"
        )
    if isinstance(record, Quote):
        problem = quote_change_problem(record, changes, utcnow().date())
        if problem:
            raise Rejected(problem)
    if isinstance(record, Visit):
        # A report is written once, whole: nothing is added to it or changed after.
        reported = record.report_notes is not None or record.next_steps is not None
        written = [
            f
            for f in REPORT_FIELDS & set(changes)
            if getattr(record, f) != changes[f] and (reported or getattr(record, f) is not None)
        ]
        if written:
            raise Rejected("this visit's report is already written: add a note to the visit instead")
        for field in ("contact_id", "met_contact_id"):
            if (named := changes.get(field)) is not None:
                contact = session.get(Contact, named)
                if contact is None or contact.account_id != record.account_id:
                    raise Rejected("the person named is not (or no longer) a contact of this customer")
    changed_elsewhere = ctx.changed_elsewhere(mutation.entity, mutation.id, mutation.base_version, list(changes))
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
        old_stage = getattr(record, "lifecycle_stage", None) or getattr(record, "stage", None)
        record.sqlmodel_update(applied)
        if (problem := stage_problem(record, applied)) is not None:
            raise Rejected(problem)
        if isinstance(record, Account) and record.lifecycle_stage != old_stage:
            session.add(
                LifecycleStageChange(
                    account_id=record.id, from_stage=old_stage, to_stage=record.lifecycle_stage, changed_by=user.id
                )
            )
        if isinstance(record, Opportunity) and record.stage != old_stage:
            session.add(
                OpportunityStageChange(
                    account_id=record.account_id,
                    opportunity_id=record.id,
                    from_stage=old_stage,
                    to_stage=record.stage,
                    changed_at=_moved_at(session, record, applied),
                    changed_by=user.id,
                )
            )
        session.flush()
    status = "conflict" if conflicts else "applied"
    return MutationResult(mid=mutation.mid, status=status, version=record.version, conflicts=conflicts)


# Statements of every push, built once: one built anew costs more than running it.
_IDS: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
_FIELD_LOG = sa.select(
    *(table_of(FieldChange).c[name] for name in ("entity", "row_id", "field", "version", "device_id"))
).where(  # along the primary key (entity, row_id, field)
    table_of(FieldChange).c.entity.in_(sa.bindparam("entities", expanding=True)),
    table_of(FieldChange).c.row_id.in_(_IDS),
)
_ANSWERED = sa.select(table_of(ProcessedMutation)).where(
    table_of(ProcessedMutation).c.device_id == sa.bindparam("device_id"), table_of(ProcessedMutation).c.mid.in_(_IDS)
)
_ANSWER = sa.insert(table_of(ProcessedMutation))


@lru_cache
def _by_ids(model: type[Record]) -> Any:
    return select(model).where(col(model.id).in_(_IDS))


def _read_records(session: Session, model: type[Record], ids: set[str]) -> list[Record]:
    found: list[Record] = []
    for chunk in chunks(sorted(ids)):
        found += session.exec(_by_ids(model), params={"ids": chunk}).all()
    return found


def _field_log(
    session: Session, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], list[tuple[str, int, str | None]]]:
    """The field changes of these records (entity, id), each record's list possibly empty."""
    found: dict[tuple[str, str], list[tuple[str, int, str | None]]] = {key: [] for key in keys}
    entities = sorted({entity for entity, _ in keys})
    for chunk in chunks(sorted({row_id for _, row_id in keys})):
        params = {"entities": entities, "ids": chunk}
        for entity, row_id, name, version, device in session.connection().execute(_FIELD_LOG, params):
            if (entity, row_id) in found:
                found[(entity, row_id)].append((name, version, device))
    return found


def _moved_at(session: Session, opportunity: Opportunity, applied: dict[str, Any]) -> datetime:
    """When an opportunity moved: a close made offline days before this push carries its
    moment (`closed_at`), kept between the opportunity's creation or latest move and now, so
    that its history stays in order; any other move is dated now."""
    now = utcnow()
    closed = applied.get("closed_at")
    if opportunity.stage not in ("won", "lost") or not isinstance(closed, datetime):
        return now
    earlier = session.exec(
        select(OpportunityStageChange.changed_at).where(OpportunityStageChange.opportunity_id == opportunity.id)
    ).all()
    return min(max(closed, opportunity.created_at, *earlier), now)


def _delete(ctx: _Context, mutation: Mutation) -> MutationResult:
    if mutation.entity not in _DELETABLE:
        raise Rejected(f"{mutation.entity} records cannot be deleted from a device")
    record = ctx.session.get(_DELETABLE[mutation.entity], mutation.id)
    if record is None:
        return MutationResult(mid=mutation.mid, status="applied")  # gone already: the wish holds
    if not ctx.reaches(getattr(record, "account_id", None)):
        raise Rejected(f"this {mutation.entity} is no longer yours")
    _detach(ctx.session, mutation.entity, record.id)
    ctx.session.delete(record)
    return MutationResult(mid=mutation.mid, status="applied")


def _detach(session: Session, entity: str, record_id: str) -> None:
    """Keep the history that names a deleted record (orders, visits, activities) without it."""
    for model in ENTITIES.values():
        table = table_of(model)
        for column in table.columns:
            if any(fk.column.table.name == entity for fk in column.foreign_keys) and column.nullable:
                rows = session.exec(select(model).where(getattr(model, column.name) == record_id)).all()
                for row in rows:
                    setattr(row, column.name, None)


def _apply(ctx: _Context, mutation: Mutation) -> MutationResult:
    if mutation.op == "create":
        return _create(ctx, mutation)
    if mutation.op == "delete":
        return _delete(ctx, mutation)
    if mutation.entity == "activity":
        raise Rejected("an activity cannot be changed once written: add a new one")
    return _update(ctx, mutation)


def _current_row(ctx: _Context, mutation: Mutation) -> dict[str, Any] | None:
    """The record a rejected mutation was about, as the server has it, if the user reaches it."""
    if mutation.entity not in ENTITIES:
        return None
    record = ctx.session.get(ENTITIES[mutation.entity], mutation.id)
    if record is None:
        return None
    account_id = getattr(record, "account_id", None) or (record.id if mutation.entity == "account" else None)
    if account_id is not None and not ctx.in_scope(account_id):
        return None
    return wire_row(ctx.session.connection(), mutation.entity, record.id)


class _Careful(Exception):  # noqa: N818 (not an error: the signal to apply again, carefully)
    """A mutation of a push applied straight through failed: undo the push and apply it again,
    each mutation in its own savepoint."""


def apply_push(
    *, session: Session, user: User, device_id: str, push: PushRequest, approval_bp: int = DEFAULT_APPROVAL_BP
) -> PushResponse:
    """`approval_bp`: the discount above which a quote waits for a manager's approval.

    Most pushes apply whole: they go straight through first, without a savepoint per mutation
    (two round trips each). Should any mutation fail, all of it is undone and applied again,
    each mutation in its own savepoint, so that a rejected one holds up none of the others.
    """
    try:
        return _apply_push(session, user, device_id, push, approval_bp, careful=False)
    except _Careful:
        pass  # out of the handler: the first go's traceback (and what it holds) let go
    session.rollback()
    return _apply_push(session, user, device_id, push, approval_bp, careful=True)


def _apply_push(
    session: Session, user: User, device_id: str, push: PushRequest, approval_bp: int, *, careful: bool
) -> PushResponse:
    begin_write(session)
    mids = [m.mid for m in push.mutations]
    done = {
        p.mid: MutationResult.model_validate(p._mapping)
        for p in session.connection().execute(_ANSWERED, {"device_id": device_id, "ids": mids})
    }
    ctx = _Context(session, user, push.pulled_through, approval_bp)
    ctx.read_ahead([m for m in push.mutations if m.mid not in done])
    results: list[MutationResult] = []
    answers: list[dict[str, Any]] = []  # processed_mutation rows, written at once at the end
    identities: set[str] = set()  # accounts whose identifiers changed: checked for duplicates
    for mutation in sorted(push.mutations, key=lambda m: m.mid):
        previous = done.get(mutation.mid)
        if previous is not None:
            row = _current_row(ctx, mutation) if previous.status == "rejected" else None
            results.append(previous.model_copy(update={"row": row}))
            continue
        identity = None
        try:
            with step(session, isolated=careful):
                # A device that has not heard of a merge yet: its change goes to the kept account.
                target = redirect_merged(session, mutation, ctx.existing)
                identity = identity_account(session, target)
                result = _apply(ctx, target)
        except (Rejected, SQLAlchemyError) as exc:
            if not careful:
                raise _Careful from exc
            # A database refusal (a constraint) rejects this one mutation only, as a rejection does.
            reason = str(exc) if isinstance(exc, Rejected) else "the server could not store this change"
            result = MutationResult(mid=mutation.mid, status="rejected", reason=reason)
        done[mutation.mid] = result.model_copy()  # a mid sent twice in one push: answered again
        if result.status == "rejected":
            result.row = _current_row(ctx, mutation)
        answers.append(
            {
                "device_id": device_id,
                "mid": mutation.mid,
                "status": result.status,
                "reason": result.reason,
                "version": result.version,
                "conflicts": [c.model_dump(mode="json") for c in result.conflicts],
                "processed_at": utcnow(),
            }
        )
        results.append(result)
        if identity is not None and result.status != "rejected":
            identities.add(identity)
    if answers:
        session.connection().execute(_ANSWER, answers)
    find_duplicates(session, identities)
    session.commit()
    return PushResponse(results=results)
