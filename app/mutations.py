"""What a device may write besides accounts and contacts, checked the same way on both sides.

Each schema is what a rep's change carries over the wire; the device validates it before it
writes the row and its outbox entry, and the server validates it again before applying it.

- Visits, reminders and tickets merge field by field, like accounts and contacts. A visit's
  report (notes, outcome, next steps, who was met, products shown) is append-only: once written it is never overwritten.
- Activities are append-only (`app.models.ActivityCreate`).
- Quotes are version-checked: a change made on an older version than the server's is refused.
- Orders are commands: the device sends products and quantities with the total it showed, and
  the server prices them with its own current prices; a different total refuses the order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AwareDatetime, ConfigDict, StringConstraints, model_validator
from sqlmodel import Field, Session, SQLModel

from app.models import (
    ID_PATTERN,
    LANGUAGE_PATTERN,
    Account,
    AccountCreate,
    AccountUpdate,
    Activity,
    ActivityCreate,
    Campaign,
    Contact,
    ContactCreate,
    ContactUpdate,
    EmailMessage,
    Opportunity,
    OpportunityStage,
    Order,
    OrderLine,
    Quote,
    QuoteLine,
    Record,
    Reminder,
    Ticket,
    Visit,
)
from app.pricing import LineIn, load_catalogue, price

__all__ = [
    "AUTHOR_FIELD",
    "CampaignCreate",
    "EmailCreate",
    "OpportunityCreate",
    "OpportunityUpdate",
    "UNOWNED_CREATES",
    "stage_problem",
    "CREATES",
    "MERGED",
    "MAX_PRODUCTS_PRESENTED",
    "REPORT_FIELDS",
    "VERSIONED",
    "OrderCommand",
    "QuoteCreate",
    "QuoteLineIn",
    "QuoteUpdate",
    "ReminderCreate",
    "ReminderUpdate",
    "TicketCreate",
    "TicketUpdate",
    "VisitCreate",
    "VisitUpdate",
    "priced_document",
]

#: A visit's report: written once, never overwritten (DESIGN: reports are append-only).
REPORT_FIELDS = frozenset({"report_notes", "outcome", "next_steps", "met_contact_id", "products_presented"})

#: The longest drawn signature (an SVG image) a quote keeps.
MAX_SIGNATURE_CHARS = 100_000
#: The most products one report names.
MAX_PRODUCTS_PRESENTED = 50

ProductId = Annotated[str, StringConstraints(max_length=36, pattern=ID_PATTERN)]


def _id() -> Any:
    return Field(max_length=36, schema_extra={"pattern": ID_PATTERN})


def _optional_id() -> Any:
    return Field(default=None, max_length=36, schema_extra={"pattern": ID_PATTERN})


class _Strict(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


def _ends_after_start(model: Any) -> Any:
    starts, ends = getattr(model, "starts_at", None), getattr(model, "ends_at", None)
    if starts is not None and ends is not None and ends < starts:
        raise ValueError("ends_at is before starts_at")
    return model


class VisitCreate(_Strict):
    account_id: str = _id()
    contact_id: str | None = _optional_id()
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    purpose: str | None = Field(default=None, max_length=500)
    fixed_time: bool = False

    _check = model_validator(mode="after")(_ends_after_start)


class VisitUpdate(_Strict):
    """Move, cancel, check in, or write the report."""

    contact_id: str | None = _optional_id()
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    purpose: str | None = Field(default=None, max_length=500)
    fixed_time: bool | None = None
    status: str | None = Field(default=None, schema_extra={"pattern": "^(planned|checked_in|done|cancelled)$"})
    checked_in_at: AwareDatetime | None = None
    check_in_lat: float | None = Field(default=None, ge=-90, le=90)
    check_in_lon: float | None = Field(default=None, ge=-180, le=180)
    report_notes: str | None = Field(default=None, max_length=10_000)
    outcome: str | None = Field(default=None, max_length=40)
    next_steps: str | None = Field(default=None, max_length=2000)
    met_contact_id: str | None = _optional_id()
    products_presented: list[ProductId] | None = Field(default=None, max_length=MAX_PRODUCTS_PRESENTED)

    _check = model_validator(mode="after")(_ends_after_start)


class ReminderCreate(_Strict):
    account_id: str = _id()
    contact_id: str | None = _optional_id()
    due_at: AwareDatetime
    reason: str = Field(min_length=1, max_length=500)
    rule: str | None = Field(default=None, max_length=40)


class ReminderUpdate(_Strict):
    """Done, snoozed, or moved."""

    due_at: AwareDatetime | None = None
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    done: bool | None = None
    done_at: AwareDatetime | None = None
    snoozed_until: AwareDatetime | None = None


class TicketCreate(_Strict):
    """A complaint, a return or an after-sales request, as the customer told it to the rep."""

    account_id: str = _id()
    contact_id: str | None = _optional_id()
    kind: str = Field(default="complaint", schema_extra={"pattern": "^(complaint|return|after_sales|question)$"})
    subject: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    priority: str = Field(default="normal", schema_extra={"pattern": "^(low|normal|high|urgent)$"})
    opened_at: AwareDatetime


class TicketUpdate(_Strict):
    status: str | None = Field(default=None, schema_extra={"pattern": "^(open|in_progress|resolved|closed)$"})
    priority: str | None = Field(default=None, schema_extra={"pattern": "^(low|normal|high|urgent)$"})
    description: str | None = Field(default=None, max_length=10_000)
    resolved_at: AwareDatetime | None = None
    resolved_on_first_contact: bool | None = None
    satisfaction: int | None = Field(default=None, ge=0, le=10)


class QuoteLineIn(_Strict):
    product_id: str = _id()
    quantity: int = Field(ge=1, le=1_000_000)
    discount_bp: int = Field(default=0, ge=0, le=10_000)


class QuoteCreate(_Strict):
    account_id: str = _id()
    contact_id: str | None = _optional_id()
    provisional_number: str = Field(min_length=1, max_length=40)
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    #: The day the quote was made: its prices are that day's (the server checks how far back).
    issued_on: date | None = None
    #: The quote's own discount, on top of the lines' (basis points).
    discount_bp: int = Field(default=0, ge=0, le=10_000)
    valid_until: date | None = None
    #: The total the rep showed the customer: the server refuses the quote if its prices give
    #: another (a price list changed while the device was offline).
    expected_gross_amount: int | None = Field(default=None, ge=0)
    notes: str | None = Field(default=None, max_length=5000)
    lines: list[QuoteLineIn] = Field(min_length=1, max_length=500)


class QuoteUpdate(_Strict):
    status: str | None = Field(default=None, schema_extra={"pattern": "^(draft|sent|accepted|refused|expired)$"})
    valid_until: date | None = None
    notes: str | None = Field(default=None, max_length=5000)
    signed_by: str | None = Field(default=None, max_length=200)
    signed_at: AwareDatetime | None = None
    signature_svg: str | None = Field(default=None, max_length=MAX_SIGNATURE_CHARS)


class CampaignCreate(_Strict):
    """An event (a trade fair) a rep opens on arrival: every lead met there names it as origin.
    Reps create events only; marketing campaigns come from the server."""

    name: str = Field(min_length=1, max_length=200)
    channel: str = Field(default="trade_fair", schema_extra={"pattern": "^(trade_fair|email|phone|post|social|web)$"})
    place: str | None = Field(default=None, max_length=200)
    starts_on: date | None = None
    ends_on: date | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> CampaignCreate:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class OpportunityCreate(_Strict):
    account_id: str = _id()
    name: str = Field(min_length=1, max_length=200)
    stage: OpportunityStage = OpportunityStage.qualification
    amount: int = Field(default=0, ge=0, le=10**13)
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    probability_pct: int = Field(default=10, ge=0, le=100)
    expected_close: date | None = None
    lost_reason: str | None = Field(default=None, max_length=500)
    competitor: str | None = Field(default=None, max_length=120)


class OpportunityUpdate(_Strict):
    """Moved on the board, re-estimated, or lost (with a reason, and the competitor if any)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    stage: OpportunityStage | None = None
    amount: int | None = Field(default=None, ge=0, le=10**13)
    probability_pct: int | None = Field(default=None, ge=0, le=100)
    expected_close: date | None = None
    closed_at: AwareDatetime | None = None
    lost_reason: str | None = Field(default=None, max_length=500)
    competitor: str | None = Field(default=None, max_length=120)


def stage_problem(record: Record, changed: Iterable[str] | None = None) -> str | None:
    """Why a record cannot stand as it is: a lost account or opportunity needs the reason it
    was lost (the competitor, when there is one, is asked beside it).

    `changed`: the fields an edit changes (None: a new record). Only an edit that moves the
    record or touches its reason is checked: a customer imported as lost without a reason
    still takes a new phone number."""
    if isinstance(record, Account):
        stage_field, stage, reason = "lifecycle_stage", record.lifecycle_stage, record.lost_reason
    elif isinstance(record, Opportunity):
        stage_field, stage, reason = "stage", record.stage, record.lost_reason
    else:
        return None
    if changed is not None and not {stage_field, "lost_reason"} & set(changed):
        return None
    if stage == "lost" and not (reason or "").strip():
        return "lost_reason: say why it was lost (and to which competitor, if any)"
    return None


class EmailCreate(_Strict):
    """An e-mail the rep reviewed and sends: it waits in the outbox for the network, then on
    the server for its SMTP server."""

    account_id: str = _id()
    contact_id: str | None = _optional_id()
    campaign_id: str | None = _optional_id()
    to_address: str = Field(min_length=3, max_length=254)
    language: str = Field(default="fr", max_length=8, schema_extra={"pattern": LANGUAGE_PATTERN})
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=50_000)

    @model_validator(mode="after")
    def _valid_address(self) -> EmailCreate:
        try:
            self.to_address = validate_email(self.to_address, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"to_address: {exc}") from exc
        return self


class OrderCommand(_Strict):
    """Place an order: products and quantities; the server prices it, and refuses it when its
    total is not the one the rep showed the customer (`expected_gross_amount`)."""

    account_id: str = _id()
    contact_id: str | None = _optional_id()
    quote_id: str | None = _optional_id()
    ordered_at: AwareDatetime
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    #: The order's own discount, on top of the lines' (basis points; an accepted quote's).
    discount_bp: int = Field(default=0, ge=0, le=10_000)
    lines: list[QuoteLineIn] = Field(min_length=1, max_length=1000)
    expected_gross_amount: int = Field(ge=0)


#: What a device may create, and the schema both sides check it against.
CREATES: dict[str, tuple[type[Record], type[SQLModel]]] = {
    "account": (Account, AccountCreate),
    "contact": (Contact, ContactCreate),
    "activity": (Activity, ActivityCreate),
    "visit": (Visit, VisitCreate),
    "reminder": (Reminder, ReminderCreate),
    "ticket": (Ticket, TicketCreate),
    "quote": (Quote, QuoteCreate),
    "order": (Order, OrderCommand),
    "campaign": (Campaign, CampaignCreate),
    "opportunity": (Opportunity, OpportunityCreate),
    "email_message": (EmailMessage, EmailCreate),
}
#: What a device may change, merged field by field against the version it was made on.
MERGED: dict[str, tuple[type[Record], type[SQLModel]]] = {
    "account": (Account, AccountUpdate),
    "contact": (Contact, ContactUpdate),
    "visit": (Visit, VisitUpdate),
    "reminder": (Reminder, ReminderUpdate),
    "ticket": (Ticket, TicketUpdate),
    "opportunity": (Opportunity, OpportunityUpdate),
}
#: What a device may change only from the server's latest version.
VERSIONED: dict[str, tuple[type[Record], type[SQLModel]]] = {"quote": (Quote, QuoteUpdate)}
#: Who made a record: set from the signed-in user (by the server, from the token).
AUTHOR_FIELD = {
    "activity": "author_id",
    "visit": "rep_id",
    "reminder": "owner_id",
    "quote": "created_by",
    "campaign": "created_by",
    "opportunity": "owner_id",
    "email_message": "author_id",
}
#: What a device creates that belongs to no account (shared with every device).
UNOWNED_CREATES = frozenset({"campaign"})


def priced_document(
    session: Session, entity: str, values: dict[str, Any], body: QuoteCreate | OrderCommand, day: date
) -> tuple[Record, list[Record]]:
    """A quote or an order and its lines, priced by `app.pricing` with `session`'s catalogue as
    of `day` (raises PricingError). `values` are the document's own columns, its id among them."""
    catalogue = load_catalogue(
        session,
        account_id=body.account_id,
        product_ids=[line.product_id for line in body.lines],
        currency=body.currency,
        day=day,
    )
    document = price(
        catalogue,
        [LineIn(line.product_id, line.quantity, line.discount_bp) for line in body.lines],
        currency=body.currency,
        discount_bp=body.discount_bp,
    )
    model: type[Record] = Quote if entity == "quote" else Order
    line_model: type[Record] = QuoteLine if entity == "quote" else OrderLine
    record = model.model_validate(
        {
            **values,
            "net_amount": document.net_amount,
            "tax_amount": document.tax_amount,
            "gross_amount": document.gross_amount,
        }
    )
    # A line's id derives from its document's: the device's lines and the server's are the same
    # records, so the server's upsert replaces the device's own instead of doubling it.
    children: list[Record] = [
        line_model.model_validate(
            {
                **{k: v for k, v in asdict(line).items() if k != "price_source"},
                "id": str(uuid.uuid5(uuid.UUID(record.id), f"line-{number}")),
                f"{entity}_id": record.id,
                "account_id": body.account_id,
            }
        )
        for number, line in enumerate(document.lines, 1)
    ]
    return record, children
