"""Sign-in: the OAuth2 password flow, and refresh, each giving tokens bound to one device."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, HTTPException, Request, status
from sqlmodel import select

from app.ids import utcnow
from app.models import table_of
from server.db import begin_write
from server.deps import SessionDep
from server.models import Device, RefreshToken, User
from server.numbering import DEVICE_NUMBER, next_number
from server.scope import user_info
from server.security import (
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    verify_password,
)
from sync.wire import TokenResponse

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_BAD_LOGIN = "wrong user name or password"


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
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None or not user.active or not verify_password(user.password_hash, password):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, _BAD_LOGIN)
        # A sign-in writes (the device, its number, a refresh token): the write lock, once the
        # password is checked, so that checking one never holds up other writers.
        begin_write(session)
        device = session.get(Device, device_id)
        if device is None:
            device = Device(id=device_id, user_id=user.id, name=device_name, platform=platform)
            session.add(device)
        elif device.user_id != user.id:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "this device id belongs to another user: sign out there first"
            )
        elif device.revoked_at is not None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this device was revoked by an administrator")
    else:
        if not refresh_token:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "refresh_token is required")
        begin_write(session)
        stored = session.exec(
            select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(refresh_token))
        ).first()
        if stored is None or stored.revoked_at is not None or stored.expires_at < now:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the session has ended: sign in again")
        # Spend the token atomically: of two requests racing with one token, one wins.
        spent = session.connection().execute(
            sa.update(table_of(RefreshToken))
            .where(table_of(RefreshToken).c.id == stored.id, table_of(RefreshToken).c.used_at.is_(None))
            .values(used_at=now)
        )
        if spent.rowcount != 1:
            # A spent token came back: someone else may hold a copy. End every session of the device.
            session.connection().execute(
                sa.update(table_of(RefreshToken))
                .where(
                    table_of(RefreshToken).c.device_id == stored.device_id,
                    table_of(RefreshToken).c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            session.commit()
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this session was used twice: sign in again")
        user = session.get(User, stored.user_id)
        device = session.get(Device, stored.device_id)
        if user is None or not user.active or device is None or device.revoked_at is not None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the session has ended: sign in again")
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
