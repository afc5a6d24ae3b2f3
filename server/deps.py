"""FastAPI dependencies: a database session per request and the authenticated user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer

from app.ids import utcnow
from server.audit import USER
from server.db import DEVICE, ServerSession
from server.errors import DEVICE_REVOKED, USER_INACTIVE, ApiError
from server.models import Device, Role, User
from server.security import InvalidToken, read_access_token
from sync.wire import MAX_INTEGER

__all__ = ["CurrentAdmin", "CurrentManager", "CurrentUser", "Offset", "SessionDep"]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _session(request: Request) -> Iterator[ServerSession]:
    with ServerSession(request.app.state.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[ServerSession, Depends(_session)]

#: How many records a listing skips: within what the database's OFFSET takes (more is a 422).
Offset = Annotated[int, Query(ge=0, le=MAX_INTEGER, description="records to skip")]


def _unauthorized(detail: str, code: str | None = None) -> HTTPException:
    return ApiError(status.HTTP_401_UNAUTHORIZED, detail, code=code, headers={"WWW-Authenticate": "Bearer"})


def _current_user(request: Request, session: SessionDep, token: Annotated[str | None, Depends(_bearer)]) -> User:
    if not token:
        raise _unauthorized("sign in first: this needs an access token")
    try:
        claims = read_access_token(token, secret=request.app.state.secret_key)
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from exc
    user = session.get(User, claims.user_id)
    device = session.get(Device, claims.device_id)
    if user is None or not user.active:
        raise _unauthorized("this user no longer exists or was deactivated", USER_INACTIVE)
    if device is None or device.user_id != user.id or device.revoked_at is not None:
        raise _unauthorized("this device was revoked: its data is erased; sign in again", DEVICE_REVOKED)
    request.state.device_id = device.id
    session.info[DEVICE] = device.id
    session.info[USER] = user.id
    now = utcnow()
    last_seen = device.last_seen_at
    if last_seen is None or (now - last_seen).total_seconds() > 60:
        device.last_seen_at = now
        session.commit()
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


def _current_manager(user: CurrentUser) -> User:
    if user.role not in (Role.manager, Role.admin):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only a manager or an admin can do this")
    return user


CurrentManager = Annotated[User, Depends(_current_manager)]


def _current_admin(user: CurrentUser) -> User:
    if user.role != Role.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only an admin can do this")
    return user


CurrentAdmin = Annotated[User, Depends(_current_admin)]
