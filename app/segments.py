"""Segments: saved filters over the rep's book (stage, origin and event, town, products bought,
RFM segment, last order date), used as the audience of a follow-up e-mail.

Saved segments are personal: they are kept in this device's replica only (the replica-local
table `saved_segment`), never pushed, never pulled and not in the outbox. Another device of the
same rep, or a replica made again from scratch, starts without them.

Everything but the RFM part is one SQL query over the replica; the RFM scores are the book's,
computed on the device (`app.dashboard.book_rfm`, cached by `Device.book_rfm`). Days are UTC
days, as in the figures.

Errors: `SegmentError(ValueError)` -> `InvalidSegment` (names the field: `.field`) |
`SegmentNotFound`; a name already taken is an `InvalidSegment` on `name`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo, field_validator
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field as TableField
from sqlmodel import Session, SQLModel

from app.dashboard import book_rfm
from app.figures import Rfm
from app.ids import new_id, utcnow
from app.models import Account, LifecycleStage, Order, OrderLine, Origin, UTCDateTime, table_of, utc_day

__all__ = [
    "NAME_MAX",
    "RFM_SEGMENTS",
    "InvalidSegment",
    "RfmSegment",
    "SavedSegment",
    "SegmentError",
    "SegmentFilter",
    "SegmentNotFound",
    "SegmentSummary",
    "count_members",
    "create_segment_tables",
    "delete_segment",
    "filter_from_json",
    "get_segment",
    "list_segments",
    "make_filter",
    "members",
    "save_segment",
    "segment_members",
    "split_towns",
    "town_key",
]

#: The names `app.figures.rfm_segment` gives, in the order a form lists them.
RfmSegment = Literal["champions", "loyal", "new", "potential", "at_risk", "hibernating"]
RFM_SEGMENTS: tuple[RfmSegment, ...] = get_args(RfmSegment)
NAME_MAX = 80

_Town = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
_Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)]


# Errors -----------------------------------------------------------------------------------
class SegmentError(ValueError):
    pass


class InvalidSegment(SegmentError):
    """What cannot be saved or read, and the field to fix (`name`, `towns`, `last_order_before`...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SegmentNotFound(SegmentError, LookupError):
    pass


# The filter -------------------------------------------------------------------------------
def town_key(town: str) -> str:
    """A town as compared: no accents, no case, hyphens and apostrophes as spaces
    (`Saint-Étienne`, `saint etienne` and `SAINT ETIENNE` are one town)."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", town) if not unicodedata.combining(c))
    folded = bare.casefold().replace("œ", "oe").replace("æ", "ae")
    return " ".join(re.sub(r"[-'’‘`´]", " ", folded).split())


def split_towns(text: str) -> tuple[str, ...]:
    """Towns typed in one field, separated by commas or semicolons."""
    return tuple(part.strip() for part in re.split(r"[,;]", text) if part.strip())


def _unique(values: Iterable[Any], key: Callable[[Any], Any] = lambda v: v) -> tuple[Any, ...]:
    seen: set[Any] = set()
    kept = []
    for value in values:
        if key(value) not in seen:
            seen.add(key(value))
            kept.append(value)
    return tuple(kept)


class SegmentFilter(BaseModel):
    """Which accounts of the book: every condition given must hold; within one condition, any
    of the values listed. An empty filter is the whole book.

    - `towns`: the billing town, whatever the accents and the case;
    - `product_ids`: bought at least one of them (an order not cancelled);
    - `rfm_segments`: the account's RFM segment as of the day asked (an account with no order
      in the last 365 days has none);
    - `last_order_after` D: the last order (not cancelled) is on D or later;
      `last_order_before` D: no order on D or later ("no order since D"), which holds for an
      account that never ordered. For one day, the two split the book in two.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    stages: tuple[LifecycleStage, ...] = ()
    origins: tuple[Origin, ...] = ()
    #: The event (a trade fair's campaign) where the customer was first met.
    origin_campaign_id: _Id | None = None
    towns: tuple[_Town, ...] = Field(default=(), max_length=50)
    product_ids: tuple[_Id, ...] = Field(default=(), max_length=200)
    rfm_segments: tuple[RfmSegment, ...] = ()
    last_order_after: date | None = None
    last_order_before: date | None = None

    @field_validator("origin_campaign_id", "last_order_after", "last_order_before", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("stages", "origins", "product_ids", "rfm_segments")
    @classmethod
    def _once_each(cls, values: tuple[Any, ...]) -> tuple[Any, ...]:
        return _unique(values)

    @field_validator("towns")
    @classmethod
    def _each_town_once(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(values, town_key)

    @field_validator("last_order_before")
    @classmethod
    def _after_then_before(cls, value: date | None, info: ValidationInfo) -> date | None:
        after = info.data.get("last_order_after")
        if value is not None and after is not None and value <= after:
            raise ValueError("must be a later day than last_order_after")
        return value

    def is_empty(self) -> bool:
        return self == SegmentFilter()

    def to_json(self) -> str:
        """The filter as stored: only what was set, so an older filter reads in a newer app."""
        return self.model_dump_json(exclude_defaults=True)


def _invalid(exc: ValidationError) -> InvalidSegment:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "filter"
    return InvalidSegment(field, first["msg"])


def make_filter(fields: Mapping[str, Any]) -> SegmentFilter:
    """A filter from plain values (lists, ISO dates, blank text for none); InvalidSegment names
    the first field to fix."""
    try:
        return SegmentFilter.model_validate(dict(fields))
    except ValidationError as exc:
        raise _invalid(exc) from None


def filter_from_json(text: str) -> SegmentFilter:
    try:
        return SegmentFilter.model_validate_json(text)
    except ValidationError as exc:
        raise _invalid(exc) from None


# Members ----------------------------------------------------------------------------------
def _town_spellings(conn: Connection, towns: Sequence[str]) -> list[str]:
    """The billing towns of the book, as written there, that are one of `towns`: the book has a
    few hundred distinct towns at most, folded here rather than on every account in SQL."""
    wanted = {town_key(t) for t in towns}
    a = table_of(Account).c
    written = conn.execute(sa.select(a.billing_city).where(a.billing_city.is_not(None)).distinct()).scalars()
    return [town for town in written if town_key(town) in wanted]


def _conditions(conn: Connection, f: SegmentFilter) -> list[sa.ColumnElement[bool]]:
    a, o, ol = table_of(Account).c, table_of(Order).c, table_of(OrderLine).c
    where: list[sa.ColumnElement[bool]] = []
    if f.stages:
        where.append(a.lifecycle_stage.in_([s.value for s in f.stages]))
    if f.origins:
        where.append(a.origin.in_([s.value for s in f.origins]))
    if f.origin_campaign_id:
        where.append(a.origin_campaign_id == f.origin_campaign_id)
    if f.towns:
        where.append(a.billing_city.in_(_town_spellings(conn, f.towns)))
    if f.product_ids:
        # Who has a line of these products is read from the replica's (product_id, account_id)
        # index alone; joining each line to its order to leave out cancelled ones costs five
        # times more. Cancelled orders are few: only the accounts with such a line are checked.
        products = list(f.product_ids)
        kept_line, kept_order = table_of(OrderLine).alias("kept_line"), table_of(Order).alias("kept_order")
        cancelled = sa.select(o.id).where(o.status == "cancelled")
        in_cancelled = sa.select(ol.account_id).where(ol.product_id.in_(products), ol.order_id.in_(cancelled))
        kept = sa.exists().where(
            kept_line.c.account_id == a.id,
            kept_line.c.product_id.in_(products),
            kept_order.c.id == kept_line.c.order_id,
            kept_order.c.status != "cancelled",
        )
        bought_any = sa.select(ol.account_id).where(ol.product_id.in_(products))
        where.append(sa.and_(a.id.in_(bought_any), sa.or_(a.id.not_in(in_cancelled), kept)))

    def ordered_since(day: date) -> sa.Select[tuple[str]]:
        # On the day's text, as the figures do: with the ordered_at index SQLite would look up
        # the table once per order, slower than one pass over the orders as soon as D is not recent.
        return sa.select(o.account_id).where(utc_day(o.ordered_at) >= day.isoformat(), o.status != "cancelled")

    if f.last_order_after is not None:
        where.append(a.id.in_(ordered_since(f.last_order_after)))
    if f.last_order_before is not None:
        where.append(a.id.not_in(ordered_since(f.last_order_before)))
    return where


def _scores(session: Session, rfm: Mapping[str, Rfm] | None, today: date) -> Mapping[str, Rfm]:
    return rfm if rfm is not None else book_rfm(session=session, day=today)


def _name_order(name: str) -> str:
    # Names as a person sorts them: "Épicerie" among the E, not after the Z as SQLite's bytes
    # put it. A fifth of the cost of town_key, which matters over a whole book.
    return unicodedata.normalize("NFKD", name).casefold()


def members(*, session: Session, filter: SegmentFilter, rfm: Mapping[str, Rfm] | None, today: date) -> list[str]:
    """The ids of the accounts in the segment, by name. `rfm`: the book's scores as of `today`
    (None: computed here when the filter asks for RFM segments)."""
    conn = session.connection()
    a = table_of(Account).c
    rows = conn.execute(sa.select(a.id, a.name).where(*_conditions(conn, filter))).all()
    if filter.rfm_segments:
        wanted = set(filter.rfm_segments)
        scores = _scores(session, rfm, today)
        rows = [r for r in rows if (s := scores.get(r[0])) is not None and s.segment in wanted]
    return [account_id for account_id, _name in sorted(rows, key=lambda r: (_name_order(r[1]), r[1], r[0]))]


def count_members(*, session: Session, filter: SegmentFilter, rfm: Mapping[str, Rfm] | None, today: date) -> int:
    """How many accounts are in the segment (the form's preview as the rep changes it)."""
    if filter.rfm_segments:
        return len(members(session=session, filter=filter, rfm=rfm, today=today))
    conn = session.connection()
    query = sa.select(sa.func.count()).select_from(table_of(Account)).where(*_conditions(conn, filter))
    return int(conn.execute(query).scalar_one())


# Saved segments (replica-local) -------------------------------------------------------------
class SavedSegment(SQLModel, table=True):
    """A segment the rep saved on this device: personal, never synced."""

    __tablename__ = "saved_segment"
    id: str = TableField(default_factory=new_id, primary_key=True, max_length=36)
    name: str = TableField(max_length=NAME_MAX, unique=True)
    filter_json: str = TableField(sa_type=sa.Text)
    created_at: datetime = TableField(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = TableField(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def create_segment_tables(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine, tables=[table_of(SavedSegment)])


@dataclass(frozen=True, slots=True)
class SegmentSummary:
    id: str
    name: str
    filter: SegmentFilter
    #: How many accounts are in it now (None where it was not counted).
    members: int | None
    updated_at: datetime


def _name(text: str) -> str:
    name = " ".join(text.split())
    if not name:
        raise InvalidSegment("name", "a segment needs a name")
    if len(name) > NAME_MAX:
        raise InvalidSegment("name", f"at most {NAME_MAX} characters")
    return name


def save_segment(*, session: Session, name: str, filter: SegmentFilter, segment_id: str | None = None) -> SavedSegment:
    """Save a new segment, or change the name and filter of `segment_id`. Two segments cannot
    share a name, whatever its case and accents."""
    name = _name(name)
    key = town_key(name)
    s = table_of(SavedSegment).c
    for other_id, other_name in session.connection().execute(sa.select(s.id, s.name)):
        if other_id != segment_id and town_key(other_name) == key:
            raise InvalidSegment("name", f"a segment is already named {other_name!r}")
    if segment_id is None:
        segment = SavedSegment(name=name, filter_json=filter.to_json())
    else:
        found = session.get(SavedSegment, segment_id)
        if found is None:
            raise SegmentNotFound(f"no segment {segment_id} on this device")
        segment = found
        segment.name, segment.filter_json, segment.updated_at = name, filter.to_json(), utcnow()
    session.add(segment)
    session.commit()
    session.refresh(segment)
    return segment


def _saved(session: Session, segment_id: str) -> SavedSegment:
    segment = session.get(SavedSegment, segment_id)
    if segment is None:
        raise SegmentNotFound(f"no segment {segment_id} on this device")
    return segment


def delete_segment(*, session: Session, segment_id: str) -> None:
    session.delete(_saved(session, segment_id))
    session.commit()


def get_segment(*, session: Session, segment_id: str) -> SegmentSummary:
    """The saved segment, not counted; SegmentNotFound if it is not on this device."""
    segment = _saved(session, segment_id)
    return SegmentSummary(segment.id, segment.name, filter_from_json(segment.filter_json), None, segment.updated_at)


def list_segments(
    *, session: Session, rfm: Mapping[str, Rfm] | Callable[[], Mapping[str, Rfm]] | None, today: date
) -> list[SegmentSummary]:
    """The saved segments by name, each with how many accounts it holds now. `rfm` may be a
    function giving the scores: it is called once, and only if a segment needs them."""
    s = table_of(SavedSegment).c
    rows = session.connection().execute(sa.select(s.id, s.name, s.filter_json, s.updated_at)).all()
    scores: list[Mapping[str, Rfm]] = []

    def book_scores() -> Mapping[str, Rfm]:
        if not scores:
            scores.append(rfm() if callable(rfm) else _scores(session, rfm, today))
        return scores[0]

    found = []
    for segment_id, name, text, updated_at in rows:
        f = filter_from_json(text)
        counted = count_members(session=session, filter=f, rfm=book_scores() if f.rfm_segments else None, today=today)
        found.append(SegmentSummary(segment_id, name, f, counted, updated_at))
    return sorted(found, key=lambda x: (town_key(x.name), x.name))


def segment_members(*, session: Session, segment_id: str, rfm: Mapping[str, Rfm] | None, today: date) -> list[str]:
    """The ids of the accounts in a saved segment now, by name: the audience of an e-mail."""
    f = filter_from_json(_saved(session, segment_id).filter_json)
    return members(session=session, filter=f, rfm=rfm, today=today)
