"""Imports from the ERP: accounts and purchase history as CSV files.

A file is read whole and every row checked first. With a bad row, nothing is imported and the
report lists each bad row (its line number in the file and why); with `skip_bad_rows`, the good
rows are imported and the report lists the ones left out. Rows are matched by `external_id`:
importing the same file twice changes nothing the second time. Every write goes through a
`ServerSession`, so devices receive the imported records at their next sync.

Accounts: `external_id, name` required; optional `billing_street, billing_postcode,
billing_city, billing_country, phone, email, website, siren, vat_number, industry, segment,
lifecycle_stage, owner` (a user name).
Orders: `account_external_id, order_external_id, ordered_at, net_amount, currency` required
(`net_amount` in minor units, `ordered_at` ISO 8601 with its zone, or a day, taken at 00:00
UTC); optional `tax_amount, status, number`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlmodel import Session, col, select

from app.models import Account, LifecycleStage, Order, Record
from server.merges import index_accounts
from server.models import User
from server.nul import REFUSED as NUL_REFUSED
from server.nul import nul_at
from server.scope import account_scope_filter

__all__ = ["ImportReport", "import_accounts", "import_orders"]

MAX_ROWS = 1_000_000


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: (line number in the file, reason)
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    imported: bool = False

    def lines(self) -> list[str]:
        return [f"line {number}: {reason}" for number, reason in self.bad_rows]


class _AccountRow(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    external_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    billing_street: str | None = Field(default=None, max_length=200)
    billing_postcode: str | None = Field(default=None, max_length=12)
    billing_city: str | None = Field(default=None, max_length=100)
    billing_country: str = Field(default="FR", min_length=2, max_length=2)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    website: str | None = Field(default=None, max_length=254)
    siren: str | None = Field(default=None, pattern=r"^\d{9}$")
    vat_number: str | None = Field(default=None, max_length=20)
    industry: str | None = Field(default=None, max_length=80)
    segment: str | None = Field(default=None, max_length=40)
    lifecycle_stage: LifecycleStage | None = None
    owner: str | None = Field(default=None, max_length=80)


class _OrderRow(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    account_external_id: str = Field(min_length=1, max_length=64)
    order_external_id: str = Field(min_length=1, max_length=64)
    ordered_at: datetime
    net_amount: int = Field(ge=0, le=10**13)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    tax_amount: int = Field(default=0, ge=0, le=10**13)
    status: str = Field(default="delivered", max_length=20)
    number: str | None = Field(default=None, max_length=40)

    @field_validator("ordered_at", mode="before")
    @classmethod
    def _a_day_is_midnight_utc(cls, value: Any) -> Any:
        if isinstance(value, str) and len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
        return value

    @field_validator("ordered_at")
    @classmethod
    def _with_zone(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the time zone (2026-11-22T10:00:00+01:00) or only the day")
        return value.astimezone(UTC)


def _rows(path: Path, required: set[str], report: ImportReport) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        report.bad_rows.append((0, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})"))
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = required - set(reader.fieldnames or [])
    if missing:
        report.bad_rows.append((1, f"missing columns: {', '.join(sorted(missing))}"))
        return []
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            if len(rows) >= MAX_ROWS:
                report.bad_rows.append((reader.line_num, f"more than {MAX_ROWS} rows: split the file"))
                return []
            if None in row:
                report.bad_rows.append((reader.line_num, "more values than columns"))
                continue
            if (where := nul_at(row)) is not None:
                report.bad_rows.append((reader.line_num, f"{where[0]}: {NUL_REFUSED}"))
                continue
            rows.append((reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}))
    except csv.Error as exc:
        report.bad_rows.append((reader.line_num, f"unreadable CSV: {exc}"))
        return []
    return rows


def _reason(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])


def _upsert(
    session: Session, model: type[Record], record: Record | None, values: dict[str, Any], report: ImportReport
) -> None:
    """Create the record, or change what differs in the one already imported."""
    if record is None:
        session.add(model.model_validate(values))
        report.created += 1
        return
    changed = {k: v for k, v in values.items() if getattr(record, k) != v}
    if changed:
        record.sqlmodel_update(changed)
        report.updated += 1
    else:
        report.unchanged += 1


def _finish(session: Session, report: ImportReport, skip_bad_rows: bool) -> ImportReport:
    report.bad_rows.sort()
    if report.bad_rows and not skip_bad_rows:
        session.rollback()
        report.created = report.updated = report.unchanged = 0
        return report
    session.commit()
    report.imported = True
    return report


def import_accounts(
    *,
    session: Session,
    path: Path,
    skip_bad_rows: bool = False,
    owner_ids: list[str] | None = None,
    default_owner: str | None = None,
) -> ImportReport:
    """`owner_ids`: the owners the importer reaches (None: all). Rows naming another owner, or
    matching an account of another owner, are bad rows; new accounts without an owner go to
    `default_owner`."""
    report = ImportReport()
    rows = _rows(path, {"external_id", "name"}, report)
    if not rows and report.bad_rows:
        return report
    owners = {u.username: u.id for u in session.exec(select(User))}
    seen: dict[str, int] = {}
    parsed: list[tuple[int, _AccountRow]] = []
    for number, raw in rows:
        try:
            row = _AccountRow.model_validate(raw)
        except ValidationError as exc:
            report.bad_rows.append((number, _reason(exc)))
            continue
        if row.owner is not None and (
            row.owner not in owners or (owner_ids is not None and owners[row.owner] not in owner_ids)
        ):
            report.bad_rows.append((number, f"owner: no user {row.owner!r}" + (" in your team" if owner_ids else "")))
            continue
        if row.external_id in seen:
            report.bad_rows.append((number, f"external_id {row.external_id!r} already on line {seen[row.external_id]}"))
            continue
        seen[row.external_id] = number
        parsed.append((number, row))
    existing = {
        a.external_id: a
        for a in session.exec(select(Account).where(col(Account.external_id).in_([r.external_id for _, r in parsed])))
    }
    for number, row in parsed:
        values = row.model_dump(exclude={"owner"}, exclude_none=True)
        if row.owner is not None:
            values["owner_id"] = owners[row.owner]
        found = existing.get(row.external_id)
        if owner_ids is not None and found is not None and found.owner_id not in owner_ids:
            report.bad_rows.append((number, f"external_id {row.external_id!r} is an account outside your team"))
            continue
        if found is None and "owner_id" not in values and default_owner is not None:
            values["owner_id"] = default_owner
        _upsert(session, Account, found, values, report)
    # The accounts created or changed, indexed for the duplicate checks of leads (rolled back
    # with the rest when the import is refused).
    index_accounts(session, [a.id for a in (*session.new, *session.dirty) if isinstance(a, Account)])
    return _finish(session, report, skip_bad_rows)


def import_orders(
    *, session: Session, path: Path, skip_bad_rows: bool = False, owner_ids: list[str] | None = None
) -> ImportReport:
    """`owner_ids`: the owners the importer reaches (None: all); orders of other accounts are
    bad rows, worded as for an account that does not exist."""
    report = ImportReport()
    rows = _rows(path, {"account_external_id", "order_external_id", "ordered_at", "net_amount", "currency"}, report)
    if not rows and report.bad_rows:
        return report
    parsed: list[tuple[int, _OrderRow]] = []
    for number, raw in rows:
        try:
            parsed.append((number, _OrderRow.model_validate(raw)))
        except ValidationError as exc:
            report.bad_rows.append((number, _reason(exc)))
    accounts = {
        a.external_id: a.id
        for a in session.exec(
            select(Account).where(
                col(Account.external_id).in_({r.account_external_id for _, r in parsed}),
                account_scope_filter(owner_ids),
            )
        )
    }
    existing = {
        o.external_id: o
        for o in session.exec(select(Order).where(col(Order.external_id).in_([r.order_external_id for _, r in parsed])))
    }
    reachable: set[str] = set()
    if owner_ids is not None:  # the accounts of the orders already imported that are within reach
        reachable = set(
            session.exec(
                select(Account.id).where(
                    col(Account.id).in_({o.account_id for o in existing.values()}), account_scope_filter(owner_ids)
                )
            )
        )
    seen: dict[str, int] = {}
    for number, row in parsed:
        if row.account_external_id not in accounts:
            report.bad_rows.append((number, f"account_external_id: no account {row.account_external_id!r}"))
            continue
        if row.order_external_id in seen:
            report.bad_rows.append(
                (number, f"order_external_id {row.order_external_id!r} already on line {seen[row.order_external_id]}")
            )
            continue
        seen[row.order_external_id] = number
        found = existing.get(row.order_external_id)
        if owner_ids is not None and found is not None and found.account_id not in reachable:
            report.bad_rows.append(
                (number, f"order_external_id {row.order_external_id!r} is an order outside your team")
            )
            continue
        values: dict[str, Any] = {
            "account_id": accounts[row.account_external_id],
            "external_id": row.order_external_id,
            "ordered_at": row.ordered_at,
            "net_amount": row.net_amount,
            "tax_amount": row.tax_amount,
            "gross_amount": row.net_amount + row.tax_amount,
            "currency": row.currency,
            "status": row.status,
            "number": row.number,
        }
        _upsert(session, Order, found, values, report)
    return _finish(session, report, skip_bad_rows)
