"""Server-only tables: users and their devices, refresh tokens, and the change log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.ids import new_id, utcnow
from app.models import UTCDateTime

__all__ = ["SERVER_TABLES", "ChangeLog", "Device", "RefreshToken", "Role", "User"]


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


SERVER_TABLES = ("app_user", "device", "refresh_token", "change_log")
