"""Quotes made on the device, offline: numbered, priced (`app.pricing`), kept in the outbox.

A quote gets a provisional number here, `P<device number>-<count>` (`P12-00042`): the device's
number is given by the server at the device's first sign-in and no other device has it, and the
count is the device's own, kept in the replica with the quote. The server gives the legal number
(`Q-2026-000042`) when the quote reaches it; the provisional one stays on the quote for reference.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from app.edits import InvalidEdit, create_record, update_record
from app.ids import utcnow
from app.models import Order, Quote, QuoteLine
from app.money import BASIS_POINTS, round_div
from sync.state import read_state, write_state

__all__ = [
    "DEFAULT_VALIDITY_DAYS",
    "QUOTE_STEPS",
    "create_quote",
    "discount_share_bp",
    "next_provisional_number",
    "order_from_quote",
    "lines_in_order",
    "quote_change_problem",
    "set_quote_status",
]

#: How long a quote holds when the rep does not say.
DEFAULT_VALIDITY_DAYS = 30

#: Where a quote may go from each status (the server moves an accepted one to "ordered" when its
#: order arrives).
QUOTE_STEPS: dict[str, frozenset[str]] = {
    "draft": frozenset({"sent", "accepted", "refused", "expired"}),
    "sent": frozenset({"accepted", "refused", "expired"}),
    "accepted": frozenset(),
    "refused": frozenset(),
    "expired": frozenset(),
    "ordered": frozenset(),
}


def discount_share_bp(quote: Quote, lines: Sequence[Any]) -> int:
    """How much of its prices the quote's discounts take off (its lines' and its own), in basis
    points of the lines at their unit prices: 1 - net / (sum of quantity x unit price)."""
    before = sum(line.quantity * line.unit_price_amount for line in lines)
    if before <= 0:
        return 0
    return round_div((before - quote.net_amount) * BASIS_POINTS, before)


#: Once in one of these, a quote never changes again (the server alone moves accepted to ordered).
SETTLED = frozenset({"accepted", "refused", "expired", "ordered"})


def quote_change_problem(quote: Quote, changes: dict[str, Any], today: date) -> str | None:
    """Why `changes` cannot be made to the quote now, or None: a settled quote (accepted,
    refused, expired, ordered) never changes; the status follows QUOTE_STEPS; a quote whose
    discount awaits or was refused approval is neither sent nor accepted; an expired one (its
    valid_until before `today`) is not accepted."""
    if quote.status in SETTLED and any(getattr(quote, k) != v for k, v in changes.items()):
        return f"this quote is {quote.status}: it cannot change any more"
    status = changes.get("status", quote.status)
    if status == quote.status:
        return None
    if status not in QUOTE_STEPS.get(quote.status, frozenset()):
        return f"a quote {quote.status} cannot become {status}"
    if status in ("sent", "accepted") and quote.approval == "needed":
        return "this quote's discount awaits a manager's approval: it can be sent or accepted once approved"
    if status in ("sent", "accepted") and quote.approval == "refused":
        note = f" ({quote.approval_note})" if quote.approval_note else ""
        return f"a manager refused this quote's discount{note}: make a new quote"
    if status == "accepted" and quote.valid_until is not None and quote.valid_until < today:
        return f"this quote expired on {quote.valid_until.isoformat()}: make a new one with today's prices"
    return None


def lines_in_order(quote_id: str, lines: Sequence[QuoteLine]) -> list[QuoteLine]:
    """A quote's lines in the order they were written (their ids derive from the quote's and
    their rank)."""
    rank = {str(uuid.uuid5(uuid.UUID(quote_id), f"line-{n}")): n for n in range(1, len(lines) + 1)}
    return sorted(lines, key=lambda line: (rank.get(line.id, len(lines) + 1), line.id))


def set_quote_status(
    *,
    session: Session,
    quote_id: str,
    status: str,
    signed_by: str | None = None,
    signed_at: datetime | None = None,
    signature_svg: str | None = None,
) -> Quote:
    """Send, accept (with who signed, when, and the drawn signature), refuse or expire a quote,
    here and at the server."""
    quote = session.get(Quote, quote_id)
    if quote is None:
        raise InvalidEdit(f"no quote {quote_id} on this device")
    changes: dict[str, Any] = {"status": status}
    if signed_by is not None:
        if not signed_by.strip():
            raise InvalidEdit("signed_by: write the name of the person who signs")
        changes |= {"signed_by": signed_by.strip(), "signed_at": signed_at or utcnow()}
    if signature_svg is not None:
        changes["signature_svg"] = signature_svg
    problem = quote_change_problem(quote, changes, utcnow().date())
    if problem:
        raise InvalidEdit(problem)
    changed = update_record(session=session, entity="quote", record_id=quote_id, changes=changes)
    assert isinstance(changed, Quote)
    return changed


def order_from_quote(*, session: Session, quote_id: str, author_id: str | None = None) -> Order:
    """The order of an accepted quote: its products, quantities and discounts, sent as a command
    that the server prices with its own prices (refused, with the reason, if the total differs)."""
    quote = session.get(Quote, quote_id)
    if quote is None:
        raise InvalidEdit(f"no quote {quote_id} on this device")
    if quote.status != "accepted":
        raise InvalidEdit(f"this quote is {quote.status}: only an accepted quote becomes an order")
    if session.exec(select(Order.id).where(Order.quote_id == quote_id)).first() is not None:
        raise InvalidEdit("this quote's order is already placed")
    lines = session.exec(select(QuoteLine).where(QuoteLine.quote_id == quote_id)).all()
    fields = {
        "account_id": quote.account_id,
        "contact_id": quote.contact_id,
        "quote_id": quote.id,
        "ordered_at": utcnow(),
        "currency": quote.currency,
        "discount_bp": quote.discount_bp,
        "lines": [
            {"product_id": line.product_id, "quantity": line.quantity, "discount_bp": line.discount_bp}
            for line in lines_in_order(quote.id, lines)
            if line.product_id is not None
        ],
    }
    order = create_record(
        session=session, entity="order", fields={k: v for k, v in fields.items() if v is not None}, author_id=author_id
    )
    assert isinstance(order, Order)
    return order


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
    issued_on: date | None = None,
) -> Quote:
    """A draft quote with its provisional number, priced here and queued for the server, valid
    DEFAULT_VALIDITY_DAYS unless said. `lines`: product_id, quantity and, if any, discount_bp each."""
    fields: dict[str, Any] = {
        "account_id": account_id,
        "contact_id": contact_id,
        "provisional_number": next_provisional_number(session),
        "discount_bp": discount_bp,
        "issued_on": issued_on,
        "valid_until": valid_until or (issued_on or utcnow().date()) + timedelta(days=DEFAULT_VALIDITY_DAYS),
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
    threshold = read_state(session).get("quote_approval_discount_bp")
    if threshold is not None and quote.approval is None:
        lines_here = session.exec(select(QuoteLine).where(QuoteLine.quote_id == quote.id)).all()
        if discount_share_bp(quote, lines_here) > int(threshold):
            # What the server will say when it arrives: shown now, so the rep knows offline.
            quote.approval = "needed"
            session.add(quote)
            session.commit()
            session.refresh(quote)
    return quote
