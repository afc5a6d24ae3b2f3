"""Numbers without gaps: the next number of a kind in a year, taken in the caller's transaction.

`UPDATE ... SET last = last + 1 ... RETURNING last` locks the counter's row until the caller's
transaction ends: two server processes numbering at once wait for each other, and a rolled-back
transaction (or savepoint) gives its number back. So the numbers given are 1, 2, 3... with none
skipped and none twice, however many processes serve.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.models import table_of
from server.models import DocumentCounter

__all__ = ["QUOTE", "DEVICE_NUMBER", "legal_quote_number", "next_number"]

QUOTE = "quote"
DEVICE_NUMBER = "device"


def next_number(session: Session, kind: str, year: int = 0) -> int:
    """The next number of `kind` in `year` (0: numbers that never restart)."""
    counter = table_of(DocumentCounter)
    conn = session.connection()
    bump = (
        sa.update(counter)
        .where(counter.c.kind == kind, counter.c.year == year)
        .values(last=counter.c.last + 1)
        .returning(counter.c.last)
    )
    taken = conn.execute(bump).scalar()
    if taken is None:  # the first of its kind this year: make the counter (once, whoever races)
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(counter)
        conn.execute(insert.values(kind=kind, year=year, last=0).on_conflict_do_nothing())
        taken = conn.execute(bump).scalar()
    assert taken is not None
    return int(taken)


def legal_quote_number(session: Session, year: int) -> str:
    """A quote's legal number: the year and its place in the year's sequence (`Q-2026-000042`)."""
    return f"Q-{year}-{next_number(session, QUOTE, year):06d}"
