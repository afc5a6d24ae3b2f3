"""Passwords (argon2), signed access tokens, and opaque refresh tokens bound to a device."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import jwt
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlmodel import Session

from app.ids import utcnow
from app.models import table_of
from server.models import RefreshToken

__all__ = [
    "AccessClaims",
    "InvalidToken",
    "hash_password",
    "end_sessions",
    "hash_refresh_token",
    "issue_access_token",
    "new_refresh_token",
    "password_problem",
    "read_access_token",
    "verify_password",
]

_hasher = PasswordHasher()
_ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The access token is missing, malformed, forged or expired; the message says which."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


#: Among the most used passwords of leaked lists (and a sales team's own favourites).
_COMMON = frozenset(
    """password motdepasse azertyuiop qwertyuiop 123456789012 1234567890 0123456789 abcdefghij
    password123 password1234 motdepasse123 soleil123456 bonjour12345 jetaime12345 terrain12345
    iloveyou1234 welcome12345 bienvenue123 changeme1234 letmein12345 administrator""".split()
)
MIN_PASSWORD = 12


def password_problem(password: str, username: str) -> str | None:
    """Why the password is refused by the policy, or None when it is good enough."""
    if len(password) < MIN_PASSWORD:
        return f"the password needs at least {MIN_PASSWORD} characters"
    if len(password) > 200:
        return "the password may have at most 200 characters"
    lowered = password.lower()
    if username and username.lower() in lowered:
        return "the password must not contain the user name"
    if lowered in _COMMON or len(set(lowered)) < 5:
        return "this password is too easy to guess: use a few unrelated words"
    return None


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    device_id: str
    expires_at: datetime


def issue_access_token(*, secret: str, user_id: str, device_id: str, minutes: int) -> str:
    now = utcnow()
    claims = {
        "sub": user_id,
        "dev": device_id,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "typ": "access",
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


_EXPIRED = "the access token has expired: refresh it or sign in again"


def read_access_token(token: str, *, secret: str) -> AccessClaims:
    claims = _verified(token, secret)
    if claims.expires_at <= utcnow():  # checked at each use: the claims are kept
        raise InvalidToken(_EXPIRED)
    return claims


@lru_cache(maxsize=16_384)
def _verified(token: str, secret: str) -> AccessClaims:
    """A token's claims, once its signature is checked. A device sends the same token with each
    request until it expires: decoding it each time was 2.4 % of the server's CPU samples in a
    profile of bench/load.py. A refused token is not kept (an exception is not cached)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub", "dev"]})
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken(_EXPIRED) from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("the access token is not valid: sign in again") from exc
    if claims.get("typ") != "access":
        raise InvalidToken("this is not an access token")
    return AccessClaims(claims["sub"], claims["dev"], datetime.fromtimestamp(claims["exp"]).astimezone())


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # Refresh tokens are long random strings: a plain digest is enough to keep them unreadable.
    return hashlib.sha256(token.encode()).hexdigest()


def end_sessions(session: Session, *, device_id: str | None = None, user_id: str | None = None) -> None:
    """Revoke every live refresh token of a device, or of a user (in the caller's transaction):
    their next refresh is refused and they sign in again with a password."""
    table = table_of(RefreshToken)
    column = table.c.device_id == device_id if device_id is not None else table.c.user_id == user_id
    session.connection().execute(
        sa.update(table).where(column, table.c.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
