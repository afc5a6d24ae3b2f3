"""The CRM entities, one SQLModel table each, shared by the central server and the device replica.

Every entity carries a UUIDv7 `id`, a `version` bumped by the server on each change and an
`updated_at` in UTC. Records that live under a customer carry `account_id`, so that a rep's
scope, a purge and a first sync are one indexed filter. Money is an integer amount of minor
units next to an ISO 4217 currency code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AwareDatetime, ConfigDict, StringConstraints
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlmodel import Field, SQLModel

from app.ids import new_id, utcnow

__all__ = [
    "ENTITIES",
    "Account",
    "AccountCreate",
    "AccountPublic",
    "AccountUpdate",
    "Activity",
    "ActivityCreate",
    "ActivityKind",
    "Campaign",
    "CampaignResponse",
    "Contact",
    "ContactCreate",
    "ContactPublic",
    "ContactUpdate",
    "EmailMessage",
    "EmailStatus",
    "Invoice",
    "LifecycleStage",
    "LifecycleStageChange",
    "Opportunity",
    "OpportunityStage",
    "OpportunityStageChange",
    "Origin",
    "Order",
    "OrderCreate",
    "OrderLine",
    "OrderLineCreate",
    "OrderLinePublic",
    "OrderPublic",
    "Payment",
    "PriceList",
    "PriceListItem",
    "Product",
    "Quote",
    "QuoteLine",
    "Reminder",
    "SurveyResponse",
    "TaxRate",
    "Temperature",
    "Ticket",
    "UTCDateTime",
    "Visit",
    "VisitPublic",
    "blank_required_field",
    "entity_table",
    "table_of",
    "utc_day",
]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A point in time stored in UTC: timestamptz on PostgreSQL, naive UTC text on SQLite.

    Values always come back timezone-aware, so no naive local time leaks into comparisons.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: times are stored in UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class utc_day(sa.sql.functions.FunctionElement[str]):  # noqa: N801  (an SQL function, named as one)
    """The UTC day of a stored time as `YYYY-MM-DD` text, computed by the database.

    Bulk reads (figures over a whole book, a big account's history) take days this way: parsing
    a datetime per row in Python costs more than the query itself. Text days sort and compare
    like the days they name."""

    type = sa.String()
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    # UTCDateTime stores naive UTC text on SQLite: `2026-11-18 09:30:00.000000`.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


#: The text form of a UUID, as devices and the server make ids.
ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: A language as ISO 639-1 ("fr", "en"), optionally with a region ("fr-BE").
LANGUAGE_PATTERN = r"^[a-z]{2}(-[A-Z]{2})?$"
#: Bounds that keep any line total within a 64-bit integer of minor units.
MAX_QUANTITY = 1_000_000
MAX_UNIT_PRICE = 10**11
#: The longest payment terms (days) and the largest credit limit (minor units) an account has.
MAX_PAYMENT_TERMS_DAYS = 365
MAX_CREDIT_LIMIT = 10**13


def _new_id_field() -> Any:
    """An optional id chosen by the caller, so that a retried create is recognised."""
    return Field(default=None, max_length=36, schema_extra={"pattern": ID_PATTERN})


def _money(default: int | None = 0, **kwargs: Any) -> Any:
    return Field(default=default, sa_type=sa.BigInteger, **kwargs)


def _degrees(bound: int) -> Any:
    """A latitude (bound 90) or a longitude (bound 180): no infinity, no NaN, nothing off the globe."""
    return Field(default=None, ge=-bound, le=bound)


def _when(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


def _json(default: Any) -> Any:
    return Field(default_factory=lambda: type(default)(), sa_type=sa.JSON)


def _enum(default: str, length: int = 20) -> Any:
    return Field(default=default, sa_type=sa.String(length), max_length=length)


def _account_fk() -> Any:
    # Indexed with the id, below: (account_id, id) serves lookups by account and a pull's paging.
    return Field(foreign_key="account.id", max_length=36, ondelete="CASCADE")


class LifecycleStage(StrEnum):
    suspect = "suspect"
    lead = "lead"
    prospect = "prospect"
    buyer = "buyer"
    client = "client"
    ambassador = "ambassador"
    lost = "lost"


class Origin(StrEnum):
    trade_fair = "trade_fair"
    web = "web"
    referral = "referral"
    ad = "ad"
    shop = "shop"
    phone = "phone"
    field = "field"
    other = "other"


class Channel(StrEnum):
    visit = "visit"
    phone = "phone"
    email = "email"
    sms = "sms"
    post = "post"
    social = "social"


class Record(SQLModel):
    """What every synced record has: its id, the server's version of it, its last change."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    version: int = Field(default=1)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# Account ----------------------------------------------------------------------------------
class AccountBase(SQLModel):
    name: str = Field(max_length=200, index=True)
    external_id: str | None = Field(default=None, max_length=64, index=True)
    legal_form: str | None = Field(default=None, max_length=40)
    siren: str | None = Field(default=None, max_length=9)
    siret: str | None = Field(default=None, max_length=14)
    vat_number: str | None = Field(default=None, max_length=20)
    industry: str | None = Field(default=None, max_length=80)
    size: str | None = Field(default=None, max_length=20)
    billing_street: str | None = Field(default=None, max_length=200)
    billing_postcode: str | None = Field(default=None, max_length=12)
    billing_city: str | None = Field(default=None, max_length=100)
    billing_country: str = Field(default="FR", max_length=2)
    billing_lat: float | None = _degrees(90)
    billing_lon: float | None = _degrees(180)
    shipping_street: str | None = Field(default=None, max_length=200)
    shipping_postcode: str | None = Field(default=None, max_length=12)
    shipping_city: str | None = Field(default=None, max_length=100)
    shipping_country: str | None = Field(default=None, max_length=2)
    shipping_lat: float | None = _degrees(90)
    shipping_lon: float | None = _degrees(180)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    website: str | None = Field(default=None, max_length=254)
    social_profiles: dict[str, str] = _json({})
    origin: str | None = Field(default=None, sa_type=sa.String(20), max_length=20)
    #: The event (a trade fair's campaign) where the customer was first met, if any.
    origin_campaign_id: str | None = Field(default=None, max_length=36)
    first_touch_at: datetime | None = _when()
    lifecycle_stage: str = _enum(LifecycleStage.lead)
    segment: str | None = Field(default=None, max_length=40)
    tags: list[str] = _json([])
    preferred_channel: str | None = Field(default=None, sa_type=sa.String(20), max_length=20)
    payment_terms_days: int = Field(default=30, ge=0, le=MAX_PAYMENT_TERMS_DAYS)
    credit_limit_amount: int | None = _money(None, ge=0, le=MAX_CREDIT_LIMIT)
    currency: str = Field(default="EUR", max_length=3)
    competitor: str | None = Field(default=None, max_length=120)
    competitor_contract_end: date | None = None
    lost_reason: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=10_000)


class Account(Record, AccountBase, table=True):
    owner_id: str | None = Field(default=None, max_length=36, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AccountCreate(AccountBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    id: str | None = _new_id_field()
    owner_id: str | None = Field(default=None, max_length=36)
    lifecycle_stage: LifecycleStage = LifecycleStage.lead
    origin: Origin | None = None
    preferred_channel: Channel | None = None


class AccountUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    name: str | None = Field(default=None, max_length=200)
    external_id: str | None = Field(default=None, max_length=64)
    legal_form: str | None = Field(default=None, max_length=40)
    siren: str | None = Field(default=None, max_length=9)
    siret: str | None = Field(default=None, max_length=14)
    vat_number: str | None = Field(default=None, max_length=20)
    industry: str | None = Field(default=None, max_length=80)
    size: str | None = Field(default=None, max_length=20)
    billing_street: str | None = Field(default=None, max_length=200)
    billing_postcode: str | None = Field(default=None, max_length=12)
    billing_city: str | None = Field(default=None, max_length=100)
    billing_lat: float | None = _degrees(90)
    billing_lon: float | None = _degrees(180)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    website: str | None = Field(default=None, max_length=254)
    origin: Origin | None = None
    origin_campaign_id: str | None = Field(default=None, max_length=36)
    lifecycle_stage: LifecycleStage | None = None
    segment: str | None = Field(default=None, max_length=40)
    tags: list[str] | None = None
    preferred_channel: Channel | None = None
    payment_terms_days: int | None = Field(default=None, ge=0, le=MAX_PAYMENT_TERMS_DAYS)
    credit_limit_amount: int | None = _money(None, ge=0, le=MAX_CREDIT_LIMIT)
    competitor: str | None = Field(default=None, max_length=120)
    competitor_contract_end: date | None = None
    lost_reason: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=10_000)


class AccountPublic(AccountBase):
    id: str
    version: int
    owner_id: str | None
    created_at: datetime
    updated_at: datetime


class LifecycleStageChange(Record, table=True):
    """One move of an account along the pipeline: the sales-cycle figures are read from these."""

    __tablename__ = "lifecycle_stage_change"
    account_id: str = _account_fk()
    from_stage: str | None = Field(default=None, sa_type=sa.String(20), max_length=20)
    to_stage: str = _enum(LifecycleStage.lead)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    changed_by: str | None = Field(default=None, max_length=36)


# Contact ----------------------------------------------------------------------------------
class ContactBase(SQLModel):
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str = Field(max_length=100, index=True)
    role: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254, index=True)
    phone: str | None = Field(default=None, max_length=32)
    mobile: str | None = Field(default=None, max_length=32)
    preferred_channel: str | None = Field(default=None, sa_type=sa.String(20), max_length=20)
    responsiveness: str | None = Field(default=None, max_length=40)
    birthday: date | None = None
    family: str | None = Field(default=None, max_length=500)
    hobbies: str | None = Field(default=None, max_length=500)
    associations: str | None = Field(default=None, max_length=500)
    social_profiles: dict[str, str] = _json({})
    consent_email: bool = False
    consent_sms: bool = False
    consent_phone: bool = False
    consent_post: bool = False
    is_primary: bool = False
    notes: str | None = Field(default=None, max_length=10_000)
    #: The language to write to the person in (ISO 639-1: "fr", "en"); None: the account's country's.
    language: str | None = Field(default=None, max_length=8)
    #: Where the person was met first (`Origin`), and the event's campaign when it was one.
    origin: str | None = Field(default=None, sa_type=sa.String(20), max_length=20)
    origin_campaign_id: str | None = Field(default=None, max_length=36)


class Contact(Record, ContactBase, table=True):
    account_id: str = _account_fk()


class ContactCreate(ContactBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    id: str | None = _new_id_field()
    account_id: str = Field(max_length=36)
    preferred_channel: Channel | None = None
    origin: Origin | None = None
    language: str | None = Field(default=None, max_length=8, schema_extra={"pattern": LANGUAGE_PATTERN})


class ContactUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    role: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    mobile: str | None = Field(default=None, max_length=32)
    preferred_channel: Channel | None = None
    responsiveness: str | None = Field(default=None, max_length=40)
    birthday: date | None = None
    family: str | None = Field(default=None, max_length=500)
    hobbies: str | None = Field(default=None, max_length=500)
    associations: str | None = Field(default=None, max_length=500)
    consent_email: bool | None = None
    consent_sms: bool | None = None
    consent_phone: bool | None = None
    consent_post: bool | None = None
    is_primary: bool | None = None
    notes: str | None = Field(default=None, max_length=10_000)
    language: str | None = Field(default=None, max_length=8, schema_extra={"pattern": LANGUAGE_PATTERN})


class ContactPublic(ContactBase):
    id: str
    version: int
    account_id: str
    updated_at: datetime


# Catalogue: products, taxes, price lists (server-owned, pulled by every device) -----------
class TaxRate(Record, table=True):
    __tablename__ = "tax_rate"
    category: str = Field(max_length=20, index=True)
    country: str = Field(default="FR", max_length=2)
    rate_bp: int = Field(description="rate in basis points: 2000 is 20 %")
    label: str = Field(max_length=60)


class Product(Record, table=True):
    sku: str = Field(max_length=40, index=True, unique=True)
    name: str = Field(max_length=200)
    category: str = Field(max_length=80)
    description: str | None = Field(default=None, max_length=2000)
    unit: str = Field(default="unit", max_length=20)
    list_price_amount: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(default="EUR", max_length=3)
    tax_category: str = Field(default="standard", max_length=20)
    active: bool = True
    in_stock: bool = True


class PriceList(Record, table=True):
    __tablename__ = "price_list"
    name: str = Field(max_length=120)
    segment: str | None = Field(default=None, max_length=40)
    account_id: str | None = Field(default=None, foreign_key="account.id", max_length=36, ondelete="CASCADE")
    currency: str = Field(default="EUR", max_length=3)
    valid_from: date | None = None
    valid_to: date | None = None


class PriceListItem(Record, table=True):
    __tablename__ = "price_list_item"
    price_list_id: str = Field(foreign_key="price_list.id", index=True, max_length=36, ondelete="CASCADE")
    account_id: str | None = Field(default=None, foreign_key="account.id", max_length=36, ondelete="CASCADE")
    product_id: str = Field(foreign_key="product.id", index=True, max_length=36)
    min_quantity: int = 1
    unit_price_amount: int = Field(sa_type=sa.BigInteger)


# Orders, invoices, payments (purchase history) --------------------------------------------
class OrderLineBase(SQLModel):
    product_id: str | None = Field(default=None, foreign_key="product.id", max_length=36)
    description: str = Field(max_length=300)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    unit_price_amount: int = Field(ge=0, le=MAX_UNIT_PRICE, sa_type=sa.BigInteger)
    discount_bp: int = Field(default=0, ge=0, le=10_000)
    tax_rate_bp: int = Field(default=2000, ge=0, le=10_000)


class OrderLine(Record, OrderLineBase, table=True):
    __tablename__ = "order_line"
    order_id: str = Field(foreign_key="order.id", index=True, max_length=36, ondelete="CASCADE")
    account_id: str = _account_fk()
    net_amount: int = _money(0)
    tax_amount: int = _money(0)


class OrderLineCreate(OrderLineBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


class OrderLinePublic(OrderLineBase):
    id: str
    net_amount: int
    tax_amount: int


class OrderBase(SQLModel):
    account_id: str = Field(max_length=36)
    contact_id: str | None = Field(default=None, max_length=36)
    number: str | None = Field(default=None, max_length=40)
    external_id: str | None = Field(default=None, max_length=64)
    ordered_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    status: str = _enum("confirmed")
    currency: str = Field(default="EUR", max_length=3, min_length=3)
    channel: str | None = Field(default=None, max_length=20)


class Order(Record, OrderBase, table=True):
    # "order" is an SQL keyword; SQLAlchemy quotes it everywhere it is used.
    __tablename__ = "order"
    account_id: str = _account_fk()
    contact_id: str | None = Field(default=None, foreign_key="contact.id", max_length=36)
    ordered_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    quote_id: str | None = Field(default=None, max_length=36)
    #: The order's own discount on top of its lines' (basis points), as `app.pricing` applies it.
    discount_bp: int = 0
    net_amount: int = _money(0)
    tax_amount: int = _money(0)
    gross_amount: int = _money(0)


class OrderCreate(OrderBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    id: str | None = _new_id_field()
    ordered_at: AwareDatetime
    lines: list[OrderLineCreate] = Field(min_length=1, max_length=1000)


class OrderPublic(OrderBase):
    id: str
    version: int
    net_amount: int
    tax_amount: int
    gross_amount: int
    lines: list[OrderLinePublic]


class Invoice(Record, table=True):
    account_id: str = _account_fk()
    order_id: str | None = Field(default=None, foreign_key="order.id", max_length=36)
    number: str = Field(max_length=40)
    issued_on: date
    due_on: date = Field(index=True)
    currency: str = Field(default="EUR", max_length=3)
    net_amount: int = Field(sa_type=sa.BigInteger)
    tax_amount: int = Field(sa_type=sa.BigInteger)
    gross_amount: int = Field(sa_type=sa.BigInteger)
    paid_amount: int = _money(0)
    status: str = _enum("open")


class Payment(Record, table=True):
    account_id: str = _account_fk()
    invoice_id: str = Field(foreign_key="invoice.id", index=True, max_length=36)
    paid_on: date
    amount: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(default="EUR", max_length=3)
    method: str = Field(default="transfer", max_length=20)


# Quotes and opportunities -----------------------------------------------------------------
class Quote(Record, table=True):
    account_id: str = _account_fk()
    contact_id: str | None = Field(default=None, foreign_key="contact.id", max_length=36)
    provisional_number: str = Field(max_length=40)
    legal_number: str | None = Field(default=None, max_length=40, unique=True)
    status: str = _enum("draft")
    issued_on: date | None = None
    valid_until: date | None = None
    currency: str = Field(default="EUR", max_length=3)
    discount_bp: int = 0
    net_amount: int = _money(0)
    tax_amount: int = _money(0)
    gross_amount: int = _money(0)
    notes: str | None = Field(default=None, max_length=5000)
    signed_by: str | None = Field(default=None, max_length=200)
    signed_at: datetime | None = _when()
    created_by: str | None = Field(default=None, max_length=36)
    #: None, or "needed" (its discounts are above the server's threshold), "approved", "refused".
    approval: str | None = Field(default=None, sa_type=sa.String(20), max_length=20)
    approval_note: str | None = Field(default=None, max_length=500)
    approved_by: str | None = Field(default=None, max_length=36)
    approved_at: datetime | None = _when()
    #: The customer's drawn signature, as an SVG image (with `signed_by` and `signed_at`).
    signature_svg: str | None = Field(default=None, sa_type=sa.Text)


class QuoteLine(Record, table=True):
    __tablename__ = "quote_line"
    quote_id: str = Field(foreign_key="quote.id", index=True, max_length=36, ondelete="CASCADE")
    account_id: str = _account_fk()
    product_id: str | None = Field(default=None, foreign_key="product.id", max_length=36)
    description: str = Field(max_length=300)
    quantity: int
    unit_price_amount: int = Field(sa_type=sa.BigInteger)
    discount_bp: int = 0
    tax_rate_bp: int = 2000
    net_amount: int = _money(0)
    tax_amount: int = _money(0)


class OpportunityStage(StrEnum):
    qualification = "qualification"
    proposal = "proposal"
    negotiation = "negotiation"
    won = "won"
    lost = "lost"


class Opportunity(Record, table=True):
    account_id: str = _account_fk()
    name: str = Field(max_length=200)
    stage: str = _enum("qualification")
    amount: int = _money(0)
    currency: str = Field(default="EUR", max_length=3)
    probability_pct: int = 10
    expected_close: date | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    closed_at: datetime | None = _when()
    lost_reason: str | None = Field(default=None, max_length=500)
    competitor: str | None = Field(default=None, max_length=120)
    owner_id: str | None = Field(default=None, max_length=36)


class OpportunityStageChange(Record, table=True):
    """One move of an opportunity on the board, with its date (written by the server)."""

    __tablename__ = "opportunity_stage_change"
    account_id: str = _account_fk()
    opportunity_id: str = Field(foreign_key="opportunity.id", index=True, max_length=36, ondelete="CASCADE")
    from_stage: str | None = Field(default=None, sa_type=sa.String(20), max_length=20)
    to_stage: str = _enum(OpportunityStage.qualification)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    changed_by: str | None = Field(default=None, max_length=36)


# Visits, activities, tickets ----------------------------------------------------------------
class Visit(Record, table=True):
    account_id: str = _account_fk()
    contact_id: str | None = Field(default=None, foreign_key="contact.id", max_length=36)
    rep_id: str | None = Field(default=None, max_length=36, index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    ends_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    purpose: str | None = Field(default=None, max_length=500)
    #: An appointment agreed with the customer at this time: a route keeps it in its slot.
    fixed_time: bool = False
    status: str = _enum("planned")
    checked_in_at: datetime | None = _when()
    check_in_lat: float | None = None
    check_in_lon: float | None = None
    report_notes: str | None = Field(default=None, max_length=10_000)
    outcome: str | None = Field(default=None, max_length=40)
    next_steps: str | None = Field(default=None, max_length=2000)
    #: Who the rep actually met (the planned contact may have been away).
    met_contact_id: str | None = Field(default=None, foreign_key="contact.id", max_length=36)
    #: The products shown, by id, in the order the rep picked them.
    products_presented: list[str] | None = Field(default=None, sa_type=sa.JSON)


class VisitPublic(SQLModel):
    """A visit as the API shows it to a manager: with its account's name and its rep's user name."""

    id: str
    version: int
    account_id: str
    account_name: str
    contact_id: str | None
    rep_id: str | None
    rep_username: str | None
    starts_at: datetime
    ends_at: datetime
    purpose: str | None
    fixed_time: bool
    status: str
    checked_in_at: datetime | None
    check_in_lat: float | None
    check_in_lon: float | None
    report_notes: str | None
    outcome: str | None
    next_steps: str | None
    met_contact_id: str | None
    products_presented: list[str] | None
    updated_at: datetime


class Activity(Record, table=True):
    account_id: str = _account_fk()
    contact_id: str | None = Field(default=None, foreign_key="contact.id", max_length=36)
    kind: str = _enum("note")
    direction: str | None = Field(default=None, sa_type=sa.String(10), max_length=10)
    occurred_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    subject: str | None = Field(default=None, max_length=200)
    summary: str | None = Field(default=None, max_length=10_000)
    visit_id: str | None = Field(default=None, max_length=36)
    opportunity_id: str | None = Field(default=None, max_length=36)
    quote_id: str | None = Field(default=None, max_length=36)
    ticket_id: str | None = Field(default=None, max_length=36)
    author_id: str | None = Field(default=None, max_length=36)
    #: The campaign or event this activity belongs to (a lead met at a trade fair, a follow-up).
    campaign_id: str | None = Field(default=None, max_length=36)
    #: A lead's capture: how keen (hot, warm, cold), the products asked about, the next step.
    temperature: str | None = Field(default=None, sa_type=sa.String(10), max_length=10)
    product_ids: list[str] | None = Field(default=None, sa_type=sa.JSON)
    next_step: str | None = Field(default=None, max_length=500)
    #: The e-mail this activity records, once the server sent it.
    email_id: str | None = Field(default=None, max_length=36)


class ActivityKind(StrEnum):
    call = "call"
    email = "email"
    meeting = "meeting"
    sms = "sms"
    social = "social"
    note = "note"


class Temperature(StrEnum):
    hot = "hot"
    warm = "warm"
    cold = "cold"


class ActivityCreate(SQLModel):
    """A communication or a note, as a rep writes it; activities are never edited afterwards."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    account_id: str = Field(max_length=36)
    contact_id: str | None = Field(default=None, max_length=36)
    kind: ActivityKind = ActivityKind.note
    direction: str | None = Field(default=None, max_length=10, schema_extra={"pattern": "^(in|out)$"})
    occurred_at: AwareDatetime
    subject: str | None = Field(default=None, max_length=200)
    summary: str | None = Field(default=None, max_length=10_000)
    visit_id: str | None = Field(default=None, max_length=36)
    campaign_id: str | None = Field(default=None, max_length=36, schema_extra={"pattern": ID_PATTERN})
    temperature: Temperature | None = None
    product_ids: list[Annotated[str, StringConstraints(max_length=36, pattern=ID_PATTERN)]] | None = Field(
        default=None, max_length=50
    )
    next_step: str | None = Field(default=None, max_length=500)


class Ticket(Record, table=True):
    account_id: str = _account_fk()
    contact_id: str | None = Field(default=None, foreign_key="contact.id", max_length=36)
    kind: str = _enum("complaint")
    subject: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    status: str = _enum("open")
    priority: str = _enum("normal")
    opened_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    resolved_at: datetime | None = _when()
    resolved_on_first_contact: bool = False
    satisfaction: int | None = None


# Campaigns and surveys ----------------------------------------------------------------------
class Campaign(Record, table=True):
    """A marketing campaign, or an event (channel "trade_fair") where reps meet leads."""

    name: str = Field(max_length=200)
    channel: str = _enum("email")
    starts_on: date | None = None
    ends_on: date | None = None
    place: str | None = Field(default=None, max_length=200)
    created_by: str | None = Field(default=None, max_length=36)


class CampaignResponse(Record, table=True):
    __tablename__ = "campaign_response"
    campaign_id: str = Field(foreign_key="campaign.id", index=True, max_length=36)
    account_id: str = _account_fk()
    contact_id: str | None = Field(default=None, foreign_key="contact.id", max_length=36)
    responded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    response: str = Field(max_length=40)


class SurveyResponse(Record, table=True):
    __tablename__ = "survey_response"
    account_id: str = _account_fk()
    contact_id: str | None = Field(default=None, foreign_key="contact.id", max_length=36)
    campaign_id: str | None = Field(default=None, foreign_key="campaign.id", max_length=36)
    kind: str = _enum("nps")
    score: int
    comment: str | None = Field(default=None, max_length=2000)
    answered_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class EmailStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"


class EmailMessage(Record, table=True):
    """An e-mail a rep wrote on the device (a follow-up after an event): the server sends it
    through its SMTP settings, then records it as an activity and the campaign's response."""

    __tablename__ = "email_message"
    account_id: str = _account_fk()
    contact_id: str | None = Field(default=None, foreign_key="contact.id", max_length=36)
    campaign_id: str | None = Field(default=None, max_length=36)
    author_id: str | None = Field(default=None, max_length=36)
    to_address: str = Field(max_length=254)
    language: str = Field(default="fr", max_length=8)
    subject: str = Field(max_length=200)
    body: str = Field(sa_type=sa.Text)
    status: str = _enum(EmailStatus.queued)
    queued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    sent_at: datetime | None = _when()
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)


class Reminder(Record, table=True):
    account_id: str = _account_fk()
    contact_id: str | None = Field(default=None, foreign_key="contact.id", max_length=36)
    owner_id: str | None = Field(default=None, max_length=36)
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    reason: str = Field(max_length=500)
    rule: str | None = Field(default=None, max_length=40)
    done: bool = False
    done_at: datetime | None = _when()
    snoozed_until: datetime | None = _when()


# In the order a first sync sends them: a record's parents come before it.
ENTITIES: dict[str, type[Record]] = {
    model.__tablename__: model  # type: ignore[misc]
    for model in (
        TaxRate,
        Product,
        Campaign,
        Account,
        LifecycleStageChange,
        PriceList,
        PriceListItem,
        Contact,
        Order,
        OrderLine,
        Invoice,
        Payment,
        Quote,
        QuoteLine,
        Opportunity,
        OpportunityStageChange,
        Visit,
        Activity,
        Ticket,
        CampaignResponse,
        SurveyResponse,
        Reminder,
        EmailMessage,
    )
}


for _model in ENTITIES.values():
    _table: sa.Table = _model.__table__  # type: ignore[attr-defined]
    if "account_id" in _table.c:
        # Everything under an account is read account by account, in id order (a first pull's
        # pages): one index on both keeps those reads a range scan however large the table.
        sa.Index(f"ix_{_table.name}_account_id_id", _table.c.account_id, _table.c.id)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table of a table model (for bulk reads and writes)."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return table


def blank_required_field(model: type[SQLModel], changes: dict[str, Any]) -> str | None:
    """The first field of `changes` that would empty a column needing a value, if any."""
    columns = table_of(model).c
    for name, value in changes.items():
        if not columns[name].nullable and (value is None or value == ""):
            return name
    return None


def entity_table(name: str) -> sa.Table:
    """The table of a synced entity, by its wire name; KeyError for any other name."""
    return table_of(ENTITIES[name])
