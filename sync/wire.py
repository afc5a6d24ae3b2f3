"""What crosses the network between a device and the server, shared by both sides."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_INTEGER",
    "OLDEST_CLIENT_SCHEMA",
    "PUSH_MAX_MUTATIONS",
    "SCHEMA_HEADER",
    "SCHEMA_VERSION",
    "Change",
    "FieldConflict",
    "Mutation",
    "MutationResult",
    "PullPage",
    "PushRequest",
    "PushResponse",
    "TokenResponse",
    "UpsertBatch",
    "UserInfo",
]

#: Bumped when the shape of synced records changes; sent by devices with every request (the
#: `SCHEMA_HEADER` header) and in the body of every push.
#:
#: A server takes devices of its own version and of the two before it (`OLDEST_CLIENT_SCHEMA`),
#: so that servers are updated first and the reps' apps follow over weeks. An older device is
#: answered 426 (code `client_too_old`: update the app), a newer one 400 (code `server_too_old`:
#: update the server first). What makes that window safe: each change of the synced shape is
#: additive for two versions:
#:
#: - a new column is nullable or has a default, on the server's tables (a server_default, for
#:   a server one release older that runs against the migrated database) and in the mutation
#:   schemas of `app.mutations` / `app.models` (an older device does not send it: the server
#:   fills the default);
#: - a device ignores what it does not know in a pulled page: columns (`_TableWriter` takes
#:   its own columns by name), entities, keys of the page; a column it knows that the server
#:   does not send gets the device's default;
#: - a column, entity or field is removed, or changes meaning, only two versions after the
#:   devices stopped using it (so no device in the window still sends or reads it), and a
#:   rename is an addition now and a removal two versions later.
#:
#: tests/integration/test_upgrades.py checks each part of this.
SCHEMA_VERSION = 1
#: The oldest device schema a server takes: two versions back (see SCHEMA_VERSION).
OLDEST_CLIENT_SCHEMA = SCHEMA_VERSION - 2
#: The request header that carries the device's SCHEMA_VERSION (a request without it, from
#: an app older than the header, is taken: those are all of schema 1).
SCHEMA_HEADER = "Terrain-Schema-Version"
#: The largest integer SQLite and PostgreSQL's bigint hold: a bigger number a request carries
#: is refused (422) where it arrives, not by the database driver in the middle of a write.
MAX_INTEGER = 2**63 - 1


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


class UpsertBatch(BaseModel):
    """Upserts of several records of one entity at one sequence number, written compactly: the
    column names once, then each record as an array of values in that order (a first pull's
    pages are made of these). Each row is the same as a `Change` with `op` upsert and that row.
    """

    seq: int
    entity: str
    op: Literal["upsert"]
    columns: list[str]
    rows: list[list[Any]]


class PullPage(BaseModel):
    """Times in rows are ISO 8601 in UTC with microseconds: `2026-11-22T10:00:00.000000Z`."""

    changes: list[Change | UpsertBatch]
    #: On the first page of a pull: how many records the whole pull sends (at most), for progress.
    total: int | None = None
    #: Opaque: pass it back to get the next page. Once `has_more` is false it is the stored cursor.
    cursor: str
    has_more: bool


class UserInfo(BaseModel):
    id: str
    username: str
    full_name: str
    role: str
    #: Monthly targets (a manager's: their team's, summed); absent from older servers.
    monthly_revenue_target_amount: int | None = None
    monthly_order_target: int | None = None
    target_currency: str = "EUR"
    #: Above this discount (basis points) a quote waits for a manager's approval; absent from
    #: older servers.
    quote_approval_discount_bp: int | None = None


class TokenResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str
    user: UserInfo
    #: The device's own number: the prefix of the provisional numbers it gives quotes offline.
    device_number: int | None = None


#: How many mutations one push may carry; a device sends more in several pushes.
PUSH_MAX_MUTATIONS = 1000


class Mutation(BaseModel):
    """One change made on a device, numbered by `mid` in the order it was made there.

    `create` makes a record with the given id; `update` changes the given fields of a record
    the device saw at `base_version`; `delete` removes it (a tombstone for every other device).
    """

    model_config = ConfigDict(extra="forbid")
    mid: int = Field(ge=1, le=MAX_INTEGER)
    entity: str = Field(max_length=40)
    id: str = Field(max_length=36)
    op: Literal["create", "update", "delete"]
    base_version: int | None = Field(default=None, ge=1, le=MAX_INTEGER)
    fields: dict[str, Any] = Field(default_factory=dict)


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(max_length=36)
    schema_version: int
    #: The change-log bound of the device's last complete pull: changes after it were not yet
    #: seen there. Edits to an account reassigned after that point were made while it was the
    #: rep's, and are accepted.
    pulled_through: int | None = Field(default=None, ge=0, le=MAX_INTEGER)
    mutations: list[Mutation] = Field(max_length=PUSH_MAX_MUTATIONS)


class FieldConflict(BaseModel):
    """The server kept its value for this field; the device's value is offered to the rep."""

    field: str
    server_value: Any = None
    device_value: Any = None


class MutationResult(BaseModel):
    mid: int
    status: Literal["applied", "rejected", "conflict"]
    reason: str | None = None
    version: int | None = None
    conflicts: list[FieldConflict] = Field(default_factory=list)
    #: With a rejection: the record as the server has it (None: it has none the user reaches),
    #: so the device shows the truth at once while the rep's refused change waits in the outbox.
    row: dict[str, Any] | None = None


class PushResponse(BaseModel):
    results: list[MutationResult]
