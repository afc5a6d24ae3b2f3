"""Quotes made on the device, offline: numbered, priced (`app.pricing`), kept in the outbox.

A quote gets a provisional number here, `P<device number>-<count>` (`P12-00042`): the device's
number is given by the server at the device's first sign-in and no other device has it, and the
count is the device's own, kept in the replica with the quote. The server gives the legal number
(`Q-2026-000042`) when the quote reaches it; the provisional one stays on the quote for reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlmodel import Session

from app.edits import InvalidEdit, create_record
from app.models import Quote
from sync.state import read_state, write_state

__all__ = ["create_quote", "next_provisional_number"]


def next_provisional_number(session: Session) -> str:
    """The device's next provisional number, counted in `session`'s transaction."""
    state = read_state(session)
    number = state.get("device_number")
    if number is None:
        raise InvalidEdit("this device has no number yet: sign in once with the network on")
    count = int(state.get("quote_count") or 0) + 1
    write_state(session, quote_count=str(count))
    return f"P{number}-{count:05d}"


def create_quote(
    *,
    session: Session,
    account_id: str,
    lines: Sequence[dict[str, Any]],
    discount_bp: int = 0,
    contact_id: str | None = None,
    valid_until: date | None = None,
    notes: str | None = None,
    author_id: str | None = None,
) -> Quote:
    """A draft quote with its provisional number, priced here and queued for the server.
    `lines`: product_id, quantity and, if any, discount_bp each."""
    fields: dict[str, Any] = {
        "account_id": account_id,
        "contact_id": contact_id,
        "provisional_number": next_provisional_number(session),
        "discount_bp": discount_bp,
        "valid_until": valid_until,
        "notes": notes,
        "lines": list(lines),
    }
    try:
        quote = create_record(
            session=session,
            entity="quote",
            fields={k: v for k, v in fields.items() if v is not None},
            author_id=author_id,
        )
    except Exception:
        session.rollback()  # the count too: the next quote takes this number
        raise
    assert isinstance(quote, Quote)
    return quote
