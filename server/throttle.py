"""Sign-in throttling: too many refused passwords for one user name, or from one address, in
the last minutes, and sign-ins are refused (429) until the oldest of them ages out.

The failures are rows of `login_failure`, so every server process counts the same ones. A
throttled attempt is refused before its password is checked (it is not counted again, and a
right password does not get through either); a success clears the user name's failures.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.ids import utcnow
from app.models import table_of
from server.models import LoginFailure

__all__ = ["Limits", "failed", "seconds_to_wait", "succeeded"]


class Limits:
    def __init__(self, *, per_user: int, per_address: int, window_minutes: int) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.window = timedelta(minutes=window_minutes)


def _wait(session: Session, column: Any, value: str, limit: int, since: datetime) -> float:
    recent = (
        select(LoginFailure.at)
        .where(column == value, col(LoginFailure.at) >= since)
        .order_by(col(LoginFailure.at).desc())
        .limit(limit)
    )
    times = list(session.exec(recent))
    if len(times) < limit:
        return 0.0
    # The limit-th most recent failure: once it is out of the window, one more try is allowed.
    return (times[-1] - since).total_seconds()


def seconds_to_wait(session: Session, *, username: str, address: str, limits: Limits) -> int:
    """0 when a sign-in may be tried now, else how many seconds until it may."""
    since = utcnow() - limits.window
    waits = (
        _wait(session, col(LoginFailure.username), username.lower(), limits.per_user, since),
        _wait(session, col(LoginFailure.address), address, limits.per_address, since),
    )
    longest = max(waits)
    return 0 if longest <= 0 else int(longest) + 1


def failed(session: Session, *, username: str, address: str, limits: Limits) -> None:
    """Count a refused password (committed by the caller), and forget failures long past."""
    now = utcnow()
    session.add(LoginFailure(username=username.lower()[:80], address=address[:64], at=now))
    session.connection().execute(
        sa.delete(table_of(LoginFailure)).where(table_of(LoginFailure).c.at < now - 4 * limits.window)
    )


def succeeded(session: Session, *, username: str) -> None:
    session.connection().execute(
        sa.delete(table_of(LoginFailure)).where(table_of(LoginFailure).c.username == username.lower())
    )
