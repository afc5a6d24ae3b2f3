"""What crosses the network between a device and the server, shared by both sides."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["SCHEMA_VERSION", "Change", "PullPage", "TokenResponse", "UserInfo"]

#: Bumped when the shape of synced records changes; sent by devices with every push.
SCHEMA_VERSION = 1


class Change(BaseModel):
    """One record to apply: `upsert` carries the whole row; `delete` and `purge` only the id.

    A `purge` of an account removes it and everything under it from the device: the account
    left this user's scope.
    """

    seq: int
    entity: str
    op: Literal["upsert", "delete", "purge"]
    id: str
    version: int | None = None
    row: dict[str, Any] | None = None


class PullPage(BaseModel):
    changes: list[Change]
    #: Opaque: pass it back to get the next page. Once `has_more` is false it is the stored cursor.
    cursor: str
    has_more: bool


class UserInfo(BaseModel):
    id: str
    username: str
    full_name: str
    role: str


class TokenResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str
    user: UserInfo
