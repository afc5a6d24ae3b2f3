"""Sign-in: the OAuth2 password flow, and refresh, each giving tokens bound to one device;
sign-out. Refresh tokens rotate at each use; one used twice ends every session of its device."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, HTTPException, Request, Response, status
from sqlmodel import select

from app.ids import utcnow
from app.models import table_of
from server import throttle
from server.audit import USER, record
from server.db import begin_write
from server.deps import CurrentUser, SessionDep
from server.errors import DEVICE_REVOKED, USER_INACTIVE, ApiError
from server.models import Device, RefreshToken, User
from server.numbering import DEVICE_NUMBER, next_number
from server.scope import user_info
from server.security import (
    end_sessions,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    verify_password,
)
from sync.wire import TokenResponse

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_BAD_LOGIN = "wrong user name or password"
_ENDED = "the session has ended: sign in again"


def _limits(request: Request) -> throttle.Limits:
    settings = request.app.state.settings
    return throttle.Limits(
        per_user=settings.login_failures_per_user,
        per_address=settings.login_failures_per_address,
        window_minutes=settings.login_window_minutes,
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _check_password(request: Request, session: SessionDep, username: str, password: str) -> User:
    """The user whose password this is; 429 while the name or the address is throttled."""
    limits, address = _limits(request), _address(request)
    wait = throttle.seconds_to_wait(session, username=username, address=address, limits=limits)
    if wait:
        raise ApiError(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many wrong passwords: try again in {(wait + 59) // 60} min",
            code="throttled",
            headers={"Retry-After": str(wait)},
        )
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.active or not verify_password(user.password_hash, password):
        begin_write(session)
        throttle.failed(session, username=username, address=address, limits=limits)
        session.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, _BAD_LOGIN)
    return user


@router.post("/token", response_model=TokenResponse)
def token(
    request: Request,
    session: SessionDep,
    grant_type: Annotated[str, Form(pattern="^(password|refresh_token)$")],
    username: Annotated[str | None, Form(max_length=80)] = None,
    password: Annotated[str | None, Form(max_length=200)] = None,
    refresh_token: Annotated[str | None, Form(max_length=200)] = None,
    device_id: Annotated[str | None, Form(min_length=8, max_length=36)] = None,
    device_name: Annotated[str, Form(max_length=120)] = "",
    platform: Annotated[str, Form(max_length=40)] = "",
) -> TokenResponse:
    """Sign in with a password (`grant_type=password`) or renew with a refresh token."""
    now = utcnow()
    if grant_type == "password":
        if not username or not password or not device_id:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "username, password and device_id are required")
        user = _check_password(request, session, username, password)
        # A sign-in writes (the device, its number, a refresh token): the write lock, once the
        # password is checked, so that checking one never holds up other writers.
        begin_write(session)
        throttle.succeeded(session, username=username)
        device = session.get(Device, device_id)
        if device is None:
            device = Device(id=device_id, user_id=user.id, name=device_name, platform=platform)
            session.add(device)
        elif device.user_id != user.id:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "this device id belongs to another user: sign out there first"
            )
        elif device.revoked_at is not None:
            raise ApiError(
                status.HTTP_403_FORBIDDEN,
                "this device was revoked: its data is erased; sign in again to start afresh",
                code=DEVICE_REVOKED,
            )
    else:
        if not refresh_token:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "refresh_token is required")
        begin_write(session)
        stored = session.exec(
            select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(refresh_token))
        ).first()
        if stored is None or stored.revoked_at is not None or stored.expires_at < now:
            raise _refusal(session, stored)
        # Spend the token atomically: of two requests racing with one token, one wins.
        spent = session.connection().execute(
            sa.update(table_of(RefreshToken))
            .where(table_of(RefreshToken).c.id == stored.id, table_of(RefreshToken).c.used_at.is_(None))
            .values(used_at=now)
        )
        if spent.rowcount != 1:
            # A spent token came back: someone else may hold a copy. End every session of the device.
            end_sessions(session, device_id=stored.device_id)
            session.commit()
            raise ApiError(
                status.HTTP_401_UNAUTHORIZED, "this session was used twice: sign in again", code="session_reused"
            )
        found = session.get(User, stored.user_id)
        device = session.get(Device, stored.device_id)
        if found is None or not found.active or device is None or device.revoked_at is not None:
            raise _refusal(session, stored)
        user = found
    settings = request.app.state.settings
    refresh = new_refresh_token()
    session.add(
        RefreshToken(
            token_hash=hash_refresh_token(refresh),
            user_id=user.id,
            device_id=device.id,
            expires_at=now + timedelta(days=settings.refresh_token_days),
        )
    )
    device.last_seen_at = now
    if device.number is None:
        device.number = next_number(session, DEVICE_NUMBER)
    session.commit()
    access = issue_access_token(
        secret=request.app.state.secret_key,
        user_id=user.id,
        device_id=device.id,
        minutes=settings.access_token_minutes,
    )
    return TokenResponse(
        access_token=access,
        expires_in=settings.access_token_minutes * 60,
        refresh_token=refresh,
        user=user_info(session, user, settings.quote_approval_discount_bp),
        device_number=device.number,
    )


def _refusal(session: SessionDep, stored: RefreshToken | None) -> ApiError:
    """Why a refresh token is refused: with the code that makes the device wipe itself when its
    user was deactivated or the device revoked."""
    if stored is not None:
        user = session.get(User, stored.user_id)
        device = session.get(Device, stored.device_id)
        if user is None or not user.active:
            return ApiError(status.HTTP_401_UNAUTHORIZED, "this user was deactivated", code=USER_INACTIVE)
        if device is None or device.revoked_at is not None:
            return ApiError(
                status.HTTP_401_UNAUTHORIZED, "this device was revoked: its data is erased", code=DEVICE_REVOKED
            )
    return ApiError(status.HTTP_401_UNAUTHORIZED, _ENDED, code="session_ended")


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """End every session of the calling device: its refresh tokens stop working at once (its
    access token within minutes). The device keeps its data and signs in again with a password."""
    begin_write(session)
    end_sessions(session, device_id=request.state.device_id)
    session.info[USER] = user.id
    record(session, action="sign_out", entity="device", row_id=request.state.device_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
