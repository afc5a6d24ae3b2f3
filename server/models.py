"""Server-only tables: users and their devices, refresh tokens, and the change log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.ids import new_id, utcnow
from app.models import UTCDateTime

__all__ = [
    "AccountKey",
    "AuditEvent",
    "LoginFailure",
    "MergeProposal",
    "COMPACTED_THROUGH",
    "SERVER_TABLES",
    "ChangeLog",
    "Device",
    "FieldChange",
    "ProcessedMutation",
    "RefreshToken",
    "ServerState",
    "Role",
    "User",
]


class Role(StrEnum):
    rep = "rep"
    manager = "manager"
    admin = "admin"


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    username: str = Field(max_length=80, unique=True)
    full_name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    role: str = Field(default=Role.rep, sa_type=sa.String(10), max_length=10)
    #: A rep's sales manager: the manager reaches the accounts of every rep under them.
    manager_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36)
    password_hash: str = Field(max_length=200)
    #: Monthly targets of a rep (net revenue in minor units of `target_currency`, and orders):
    #: the figures compare the period's revenue and orders to them.
    monthly_revenue_target_amount: int | None = Field(default=None, sa_type=sa.BigInteger)
    monthly_order_target: int | None = None
    target_currency: str = Field(default="EUR", max_length=3)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Device(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="app_user.id", index=True, max_length=36)
    name: str = Field(default="", max_length=120)
    platform: str = Field(default="", max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: A short number of the device's own, given at its first sign-in: the prefix of the
    #: provisional numbers it makes offline, so two devices' never collide.
    number: int | None = Field(default=None, unique=True)


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_token"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: str = Field(foreign_key="app_user.id", index=True, max_length=36)
    device_id: str = Field(foreign_key="device.id", index=True, max_length=36)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChangeLog(SQLModel, table=True):
    """One change to one synced record, in commit order; `seq` is the pull cursor.

    `owner_id` is the owner of the record's account when the change was made: a rep pulls the
    changes made while an account was theirs, and the purge that ends it.
    """

    __tablename__ = "change_log"
    __table_args__ = (
        sa.Index("ix_change_log_owner_seq", "owner_id", "seq"),
        # Entries under no account (the catalogue...), which every device pulls.
        sa.Index(
            "ix_change_log_unowned_seq",
            "seq",
            postgresql_where=sa.text("account_id IS NULL"),
            sqlite_where=sa.text("account_id IS NULL"),
        ),
        {"sqlite_autoincrement": True},
    )
    seq: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
    )
    entity: str = Field(max_length=40)
    row_id: str = Field(max_length=36)
    op: str = Field(max_length=10)
    account_id: str | None = Field(default=None, max_length=36)
    owner_id: str | None = Field(default=None, max_length=36)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ProcessedMutation(SQLModel, table=True):
    """The answer given to each device mutation, written with its effects: a retried push is
    answered again from here, never applied twice."""

    __tablename__ = "processed_mutation"
    device_id: str = Field(primary_key=True, max_length=36)
    mid: int = Field(primary_key=True, sa_type=sa.BigInteger)
    status: str = Field(max_length=10)
    reason: str | None = Field(default=None, max_length=1000)
    version: int | None = None
    conflicts: list[dict[str, object]] = Field(default_factory=list, sa_type=sa.JSON)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class FieldChange(SQLModel, table=True):
    """The record version at which each field of an account or contact last changed: what a
    field-by-field merge compares a device's base version with."""

    __tablename__ = "field_change"
    entity: str = Field(primary_key=True, max_length=40)
    row_id: str = Field(primary_key=True, max_length=36)
    field: str = Field(primary_key=True, max_length=60)
    version: int
    #: The device whose change it was: its own later edits never conflict with it.
    device_id: str | None = Field(default=None, max_length=36)


class ServerState(SQLModel, table=True):
    """Server-wide facts kept in the database, shared by every server process."""

    __tablename__ = "server_state"
    key: str = Field(primary_key=True, max_length=60)
    value: str


class DocumentCounter(SQLModel, table=True):
    """The last number given of a kind in a year (quotes' legal numbers, devices' numbers): one
    row each, incremented in the transaction that uses the number, so none is lost or doubled."""

    __tablename__ = "document_counter"
    kind: str = Field(primary_key=True, max_length=20)
    year: int = Field(primary_key=True)
    last: int = 0


class AccountKey(SQLModel, table=True):
    """One identifier of an account as duplicate checks compare them (`app.duplicates`): its
    SIREN, an e-mail, a phone in E.164, a company e-mail domain, or its company-name key. Kept by
    `server.merges` as accounts and contacts are written, so a lead is matched by index."""

    __tablename__ = "account_key"
    __table_args__ = (sa.Index("ix_account_key_kind_key", "kind", "key"),)
    account_id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(primary_key=True, max_length=10)
    key: str = Field(primary_key=True, max_length=254)


class MergeProposal(SQLModel, table=True):
    """Two accounts that look like one company (found when a device's lead reached the server):
    offered to a manager, who merges them (everything of `duplicate_id` moves to `account_id`)
    or says they differ. A merged proposal also redirects late changes to the merged account."""

    __tablename__ = "merge_proposal"
    __table_args__ = (sa.UniqueConstraint("account_id", "duplicate_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    account_id: str = Field(max_length=36, index=True)
    duplicate_id: str = Field(max_length=36, index=True)
    reasons: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    status: str = Field(default="open", max_length=10, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=36)


class AuditEvent(SQLModel, table=True):
    """Who read in bulk, changed, exported or deleted what, and when: written in the transaction
    of the act itself, read by managers on a record's history (`server.audit`)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        sa.Index("ix_audit_event_entity_row", "entity", "row_id"),
        sa.Index("ix_audit_event_account_at", "account_id", "at"),
        sa.Index("ix_audit_event_user_at", "user_id", "at"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    user_id: str | None = Field(default=None, max_length=36)
    device_id: str | None = Field(default=None, max_length=36)
    #: read (in bulk), change, export, delete, merge, import, revoke
    action: str = Field(max_length=10)
    entity: str = Field(max_length=40)
    row_id: str | None = Field(default=None, max_length=36)
    #: The account the record is under, so an account's history shows its contacts' events too.
    account_id: str | None = Field(default=None, max_length=36)
    count: int = 1
    detail: str | None = Field(default=None, max_length=500)


class LoginFailure(SQLModel, table=True):
    """A refused password, by user name and by address: sign-ins are throttled on the count of
    recent ones (`server.throttle`), in the database so that every server process agrees."""

    __tablename__ = "login_failure"
    __table_args__ = (
        sa.Index("ix_login_failure_username_at", "username", "at"),
        sa.Index("ix_login_failure_address_at", "address", "at"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    username: str = Field(max_length=80)
    address: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


#: server_state key: the change log holds no entry at or below this sequence number.
COMPACTED_THROUGH = "change_log_compacted_through"

SERVER_TABLES = (
    "app_user",
    "device",
    "refresh_token",
    "change_log",
    "processed_mutation",
    "field_change",
    "server_state",
    "document_counter",
    "account_key",
    "merge_proposal",
    "audit_event",
    "login_failure",
)
