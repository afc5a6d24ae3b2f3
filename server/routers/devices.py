"""Devices: each sign-in registers one. A user sees their own, a manager their team's, an
admin every one; a user revokes their own (a lost phone), an admin any. A revoked device is
refused from then on, and at its next contact it wipes its replica, its outbox and its
stored session, and shows the sign-in screen."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel
from sqlmodel import col, select

from app.ids import utcnow
from server.audit import record
from server.db import DEVICE, begin_write
from server.deps import CurrentUser, Offset, SessionDep
from server.models import Device, Role, User
from server.scope import scope_owner_ids
from server.security import end_sessions

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

NOT_FOUND = "no such device within your reach"


class DevicePublic(BaseModel):
    id: str
    user_id: str
    username: str
    name: str
    platform: str
    number: int | None
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    #: Whether it is the device making this request.
    current: bool = False


def _public(device: Device, username: str, current_id: str | None) -> DevicePublic:
    return DevicePublic(
        id=device.id,
        user_id=device.user_id,
        username=username,
        name=device.name,
        platform=device.platform,
        number=device.number,
        created_at=device.created_at,
        last_seen_at=device.last_seen_at,
        revoked_at=device.revoked_at,
        current=device.id == current_id,
    )


@router.get("", response_model=list[DevicePublic])
def list_devices(
    session: SessionDep,
    user: CurrentUser,
    user_id: Annotated[str | None, Query(max_length=36, description="only this user's devices")] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DevicePublic]:
    query = select(Device, User.username).join(User, col(User.id) == col(Device.user_id))
    users = scope_owner_ids(session, user)
    if users is not None:
        query = query.where(col(Device.user_id).in_(users))
    if user_id is not None:
        query = query.where(col(Device.user_id) == user_id)
    rows = session.exec(query.order_by(col(User.username), col(Device.created_at)).offset(offset).limit(limit))
    current = session.info.get(DEVICE)
    return [_public(device, username, current) for device, username in rows]


@router.post("/{device_id}/revoke", response_model=DevicePublic)
def revoke_device(device_id: str, session: SessionDep, user: CurrentUser) -> DevicePublic:
    """Cut the device off: its sessions end now, and it wipes itself at its next contact.
    Revoking a revoked device changes nothing."""
    begin_write(session)
    device = session.get(Device, device_id)
    if device is None or (user.role != Role.admin and device.user_id != user.id):
        visible = scope_owner_ids(session, user)
        if device is None or visible is None or device.user_id not in visible:
            raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only the device's user or an admin can revoke it")
    owner = session.get(User, device.user_id)
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        end_sessions(session, device_id=device.id)
        record(session, action="revoke", entity="device", row_id=device.id, detail=f"device of {device.user_id}")
        session.commit()
    return _public(device, owner.username if owner else "", session.info.get(DEVICE))
