"""Users, managed by an admin: add (with the password policy), change role, manager or
targets, deactivate (every device of the user wipes itself at its next contact), reset a
password. Anyone reads themselves and changes their own password."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlmodel import col, select

from server.audit import record
from server.db import begin_write
from server.deps import CurrentAdmin, CurrentUser, Offset, SessionDep
from server.models import Role, User
from server.security import end_sessions, hash_password, password_problem, verify_password

router = APIRouter(prefix="/api/v1/users", tags=["users"])

NOT_FOUND = "no such user"
USERNAME = r"^[a-z0-9][a-z0-9._-]{1,79}$"


class UserPublic(BaseModel):
    id: str
    username: str
    full_name: str
    email: str | None
    role: Role
    manager_id: str | None
    active: bool
    created_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME, description="lower-case letters, digits, . _ -")
    full_name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    role: Role = Role.rep
    manager_id: str | None = Field(default=None, max_length=36)
    password: str = Field(min_length=1, max_length=200)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = None
    role: Role | None = None
    manager_id: str | None = Field(default=None, max_length=36)
    active: bool | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The caller's current password (not needed when an admin resets someone else's).
    current_password: str | None = Field(default=None, max_length=200)
    new_password: str = Field(min_length=1, max_length=200)


def _public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


def _check_manager(session: SessionDep, manager_id: str | None, user_id: str | None = None) -> None:
    if manager_id is None:
        return
    manager = session.get(User, manager_id)
    if manager is None or manager.role not in (Role.manager, Role.admin) or manager_id == user_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"manager_id {manager_id!r} is not a manager")


def _check_password(password: str, username: str) -> None:
    problem = password_problem(password, username)
    if problem:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", "password"], "msg": problem, "type": "password_policy"}],
        )


@router.get("/me", response_model=UserPublic)
def read_me(user: CurrentUser) -> UserPublic:
    return _public(user)


@router.get("", response_model=list[UserPublic])
def list_users(
    session: SessionDep,
    _admin: CurrentAdmin,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[UserPublic]:
    users = session.exec(select(User).order_by(col(User.username)).offset(offset).limit(limit))
    return [_public(u) for u in users]


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, _admin: CurrentAdmin) -> UserPublic:
    _check_password(body.password, body.username)
    begin_write(session)
    if session.exec(select(User.id).where(User.username == body.username)).first() is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.username!r} already exists")
    _check_manager(session, body.manager_id)
    user = User(
        username=body.username,
        full_name=body.full_name,
        email=body.email,
        role=body.role,
        manager_id=body.manager_id,
        password_hash=hash_password(body.password),
    )
    session.add(user)
    record(session, action="change", entity="app_user", row_id=user.id, detail="user added")
    session.commit()
    return _public(user)


@router.get("/{user_id}", response_model=UserPublic)
def read_user(user_id: str, session: SessionDep, _admin: CurrentAdmin) -> UserPublic:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return _public(user)


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: str, body: UserUpdate, session: SessionDep, admin: CurrentAdmin) -> UserPublic:
    begin_write(session)
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    changes = body.model_dump(exclude_unset=True)
    if "manager_id" in changes:
        _check_manager(session, changes["manager_id"], user.id)
    if user.id == admin.id and (changes.get("active") is False or changes.get("role", Role.admin) != Role.admin):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "an admin cannot demote or deactivate themselves")
    for name in ("full_name", "role", "active"):
        if name in changes and changes[name] is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} cannot be null")
    user.sqlmodel_update(changes)
    if changes.get("active") is False:
        end_sessions(session, user_id=user.id)  # and every device of theirs wipes itself at its next contact
    record(session, action="change", entity="app_user", row_id=user.id, detail=", ".join(sorted(changes)) or None)
    session.commit()
    return _public(user)


@router.post("/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(user_id: str, body: PasswordChange, session: SessionDep, caller: CurrentUser) -> Response:
    """A user changes their own password (giving the current one); an admin resets anyone's.
    Every session of the user ends: each device signs in again with the new password."""
    begin_write(session)
    user = session.get(User, user_id)
    if user is None or (user.id != caller.id and caller.role != Role.admin):
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    if user.id == caller.id and not verify_password(user.password_hash, body.current_password or ""):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", "current_password"], "msg": "the current password is wrong", "type": "value_error"}],
        )
    _check_password(body.new_password, user.username)
    user.password_hash = hash_password(body.new_password)
    end_sessions(session, user_id=user.id)
    record(session, action="change", entity="app_user", row_id=user.id, detail="password")
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
