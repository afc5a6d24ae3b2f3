"""FastAPI dependencies: a database session per request and the authenticated user."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import anyio.to_thread
import sqlalchemy as sa
from fastapi import Depends, Header, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool
from sqlmodel import col, select

from app.ids import utcnow
from app.models import table_of
from server.audit import USER
from server.db import DEVICE, ServerSession
from server.errors import CLIENT_TOO_OLD, DEVICE_REVOKED, SERVER_TOO_OLD, USER_INACTIVE, ApiError
from server.models import Device, Role, User
from server.security import InvalidToken, read_access_token
from sync.wire import MAX_INTEGER, OLDEST_CLIENT_SCHEMA, SCHEMA_HEADER, SCHEMA_VERSION

__all__ = [
    "CurrentAdmin",
    "CurrentManager",
    "CurrentUser",
    "Offset",
    "SessionDep",
    "check_client_schema",
    "client_schema",
]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _pool_capacity(engine: Engine) -> int:
    pool = engine.pool
    if isinstance(pool, QueuePool):
        return pool.size() + max(pool._max_overflow, 0)  # noqa: SLF001 (no public reader)
    return 1_000  # a pool without a bound never makes a request wait


async def _session(request: Request) -> AsyncIterator[ServerSession]:
    """A session for the request, once one of the pool's connections is sure to be free.

    A request holds its connection from its first query to its end, across several steps that
    each need one of the worker threads. Were every thread to wait for a connection while the
    requests holding them wait for a thread, the process would stall until the pool's timeout:
    so requests wait here, on the event loop, holding neither.
    """
    state = request.app.state
    loop = asyncio.get_running_loop()
    if getattr(state, "db_slots", None) is None or state.db_slots[0] is not loop:
        state.db_slots = (loop, asyncio.Semaphore(_pool_capacity(state.engine)))
    async with state.db_slots[1]:
        session = ServerSession(state.engine, expire_on_commit=False)
        try:
            yield session
        finally:
            if session.in_transaction():  # its end is a round trip to the database: not on the loop
                await anyio.to_thread.run_sync(session.close)
            else:  # committed (or never used) by the request: nothing to wait for
                session.close()


SessionDep = Annotated[ServerSession, Depends(_session)]

#: How many records a listing skips: within what the database's OFFSET takes (more is a 422).
Offset = Annotated[int, Query(ge=0, le=MAX_INTEGER, description="records to skip")]


def check_client_schema(version: int) -> None:
    """Refuse a device whose schema is outside this server's window (sync/wire.py: SCHEMA_VERSION)."""
    accepted = f"app schema {version}, server accepts {OLDEST_CLIENT_SCHEMA}..{SCHEMA_VERSION}"
    if version < OLDEST_CLIENT_SCHEMA:
        raise ApiError(
            status.HTTP_426_UPGRADE_REQUIRED,
            f"this version of the app is too old for the server: please update it ({accepted})",
            code=CLIENT_TOO_OLD,
        )
    if version > SCHEMA_VERSION:
        raise ApiError(
            status.HTTP_400_BAD_REQUEST,
            f"this version of the app is newer than the server: the server must be updated first ({accepted})",
            code=SERVER_TOO_OLD,
        )


async def client_schema(
    version: Annotated[
        int | None,
        Header(
            alias=SCHEMA_HEADER,
            ge=-MAX_INTEGER,
            le=MAX_INTEGER,
            description="The app's sync schema version (sync/wire.py); none: an app older than this header",
        ),
    ] = None,
) -> None:
    """The sync router's check of the header every device request carries (a coroutine: FastAPI
    would lend a plain function one of the request threads, a hop of ~70 µs for a comparison)."""
    if version is not None:
        check_client_schema(version)


def _unauthorized(detail: str, code: str | None = None) -> HTTPException:
    return ApiError(status.HTTP_401_UNAUTHORIZED, detail, code=code, headers={"WWW-Authenticate": "Bearer"})


#: Built once: a statement built for each request costs more than running it.
_USER_AND_DEVICE = (
    select(User, Device.revoked_at, Device.last_seen_at)
    .join(Device, col(Device.user_id) == User.id)
    .where(Device.id == sa.bindparam("device_id"))
)
_DEVICE_SEEN = (
    sa.update(table_of(Device))
    .where(table_of(Device).c.id == sa.bindparam("device_id"))
    .values(last_seen_at=sa.bindparam("now"))
)


def _current_user(request: Request, session: SessionDep, token: Annotated[str | None, Depends(_bearer)]) -> User:
    if not token:
        raise _unauthorized("sign in first: this needs an access token")
    try:
        claims = read_access_token(token, secret=request.app.state.secret_key)
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from exc
    # One round trip for both (every request of every device comes through here).
    found = session.exec(_USER_AND_DEVICE, params={"device_id": claims.device_id}).first()
    user: User | None = None
    if found is not None and found[0].id == claims.user_id:
        user, revoked_at, last_seen = found
    else:  # no such device, or another user's: the token's user, for the right answer
        user = session.get(User, claims.user_id)
    if user is None or not user.active:
        raise _unauthorized("this user no longer exists or was deactivated", USER_INACTIVE)
    if found is None or found[0] is not user or revoked_at is not None:
        raise _unauthorized("this device was revoked: its data is erased; sign in again", DEVICE_REVOKED)
    request.state.device_id = claims.device_id
    request.state.user_id = user.id  # for the access log line
    session.info[DEVICE] = claims.device_id
    session.info[USER] = user.id
    now = utcnow()
    if last_seen is None or (now - last_seen).total_seconds() > 60:
        session.connection().execute(_DEVICE_SEEN, {"device_id": claims.device_id, "now": now})
        session.commit()
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


async def _current_manager(user: CurrentUser) -> User:
    if user.role not in (Role.manager, Role.admin):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only a manager or an admin can do this")
    return user


CurrentManager = Annotated[User, Depends(_current_manager)]


async def _current_admin(user: CurrentUser) -> User:
    if user.role != Role.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only an admin can do this")
    return user


CurrentAdmin = Annotated[User, Depends(_current_admin)]
